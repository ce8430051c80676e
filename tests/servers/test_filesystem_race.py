"""The race test: a thread flips paths between real entries and symlinks to outside while reads
and writes run; nothing outside the root may ever be read or written.

Two paths flip: ``victim`` (a regular file <-> a symlink to ``outside/secret``) and ``d`` (a real
directory <-> a symlink to ``outside/``). A check-then-open server loses this race quickly; the
fd-relative no-follow walk cannot, whatever the interleaving.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.servers.conftest import filesystem_server, invoke

SECRET = "TOP-SECRET"
SECONDS = 1.5


def _outside_state(outside: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(outside)): (p.lstat().st_ino, p.read_bytes() if p.is_file() else b"")
        for p in sorted(outside.rglob("*"))
    }


def _flipper(root: Path, stop: threading.Event, flips: Counter, errors: list) -> None:
    try:
        _flip(root, stop, flips)
    except BaseException as exc:  # surfaced by the test: a dead flipper would prove nothing
        errors.append(repr(exc))


def _flip(root: Path, stop: threading.Event, flips: Counter) -> None:
    d, real, victim = root / "d", root / "d_real", root / "victim"
    while not stop.is_set():
        # to "outside": the directory and the file become symlinks leading out
        os.rename(d, real)
        os.symlink("../outside", root / "d_tmp")
        _put_back(root / "d_tmp", d)
        os.symlink("../outside/secret", root / "v_tmp")
        os.rename(root / "v_tmp", victim)
        flips["out"] += 1
        time.sleep(0.0005)
        # back "inside": the real directory and a regular file
        os.unlink(d)
        _put_back(real, d)
        (root / "v_tmp").write_text("inside\n")
        os.rename(root / "v_tmp", victim)
        flips["in"] += 1
        time.sleep(0.0005)


def _put_back(source: Path, d: Path) -> None:
    # create_directory("d/newdir") may have made a fresh "d" while it was missing: clear it.
    for _attempt in range(100):
        try:
            os.rename(source, d)
            return
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
    raise AssertionError("could not restore the directory")


_CALLS = [
    ("read_text_file", {"path": "victim"}),
    ("read_text_file", {"path": "d/f"}),
    ("read_text_file", {"path": "d/f", "tail": 1}),
    ("read_multiple_files", {"paths": ["victim", "d/f"]}),
    ("read_media_file", {"path": "d/f"}),
    ("list_directory", {"path": "d"}),
    ("search_files", {"path": "d", "pattern": "*"}),
    ("get_file_info", {"path": "d/f"}),
    ("write_file", {"path": "victim", "content": "written\n"}),
    ("write_file", {"path": "d/f", "content": "inside\n"}),
    ("write_file", {"path": "d/planted", "content": "planted\n"}),
    ("edit_file", {"path": "d/f", "edits": [{"oldText": "inside", "newText": "inside"}]}),
    ("create_directory", {"path": "d/newdir"}),
]


def _worker(server, stop: threading.Event, seen: list[str], outcomes: Counter) -> None:
    i = 0
    while not stop.is_set():
        tool, args = _CALLS[i % len(_CALLS)]
        i += 1
        result = invoke(server, tool, **args)
        outcomes["error" if result.is_error else "ok"] += 1
        wire = str(result.to_wire())
        if SECRET in wire:
            seen.append(f"{tool} {args}: {wire[:200]}")


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_flipping_symlinks_never_leak_or_write_outside(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("inside\n")
    (root / "victim").write_text("inside\n")
    outside.mkdir()
    (outside / "secret").write_text(SECRET + "\n")
    (outside / "f").write_text(SECRET + " f\n")
    before = _outside_state(outside)

    server = filesystem_server(root)
    stop = threading.Event()
    seen: list[str] = []
    outcomes: Counter = Counter()
    flips: Counter = Counter()
    errors: list[str] = []
    threads = [threading.Thread(target=_flipper, args=(root, stop, flips, errors))]
    threads += [
        threading.Thread(target=_worker, args=(server, stop, seen, outcomes)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert seen == [], seen[:5]
    assert _outside_state(outside) == before, "an outside file was created or changed"
    # The race really ran: paths flipped many times, and calls both succeeded and were refused.
    assert flips["out"] > 50 and flips["in"] > 50, flips
    assert outcomes["ok"] > 20 and outcomes["error"] > 20, outcomes
