"""The filesystem server's parts on their own: bounded head/tail against a plain reference,
globs, text decoding, atomic writes, and the server's start-up cost in imports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers.filesystem.fileio import decode_text, line_ending, read_head, read_tail
from servers.filesystem.walk import Glob
from servers.wire.server import ToolError
from tests.servers.conftest import REPO_ROOT, filesystem_server, invoke

LINES = st.lists(st.sampled_from(["", "a", "bb", "ccc\r", "é", "x" * 70]), max_size=60)


def _fd(tmp: Path, data: bytes) -> int:
    path = tmp / "f"
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=LINES, trailing=st.booleans(), n=st.integers(0, 70))
def test_head_and_tail_match_a_plain_reference(tmp_path: Path, lines, trailing, n) -> None:
    data = "\n".join(lines).encode() + (b"\n" if trailing and lines else b"")
    whole = data.splitlines(keepends=True)
    fd = _fd(tmp_path, data)
    try:
        assert read_head(fd, n, 1 << 20) == (b"".join(whole[:n]), False)
        assert read_tail(fd, n, 1 << 20, len(data)) == (b"".join(whole[-n:] if n else []), False)
    finally:
        os.close(fd)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=st.integers(1, 300_000), cap=st.integers(1, 70_000), n=st.integers(1, 5))
def test_head_and_tail_never_pass_the_cap(tmp_path: Path, size, cap, n) -> None:
    data = b"z" * size  # no newline at all: the worst case
    fd = _fd(tmp_path, data)
    try:
        head, head_cut = read_head(fd, n, cap)
        tail, tail_cut = read_tail(fd, n, cap, size)
    finally:
        os.close(fd)
    assert len(head) == len(tail) == min(size, cap)
    assert head_cut == tail_cut == (size > cap)


def test_tail_reads_blocks_from_the_end_only(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(2 * 1024**3)  # 2 GiB sparse: reading it all would take seconds
        f.seek(-6, os.SEEK_END)
        f.write(b"\nlast\n")
    fd = os.open(big, os.O_RDONLY)
    try:
        began = time.perf_counter()
        data, cut = read_tail(fd, 1, 1 << 20, big.stat().st_size)
        assert (data, cut) == (b"last\n", False)
        assert time.perf_counter() - began < 1.0
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "a.py", True),
        ("*.py", "src/deep/a.py", True),
        ("*.py", "a.pyc", False),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/x/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("**", "anything/at/all", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        (".git", "x/.git", True),
        ("*", ".hidden", True),
        ("a*b", "a/b", False),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert Glob(pattern).matches(tuple(path.split("/"))) is matches


def test_pathological_glob_is_fast() -> None:
    glob = Glob("**/" * 30 + "*a" * 30 + "b")
    began = time.perf_counter()
    assert not glob.matches(tuple(["a" * 60] * 30))
    assert time.perf_counter() - began < 1.0


@pytest.mark.parametrize("bad", ["", "x" * 1025, "a\x00b"])
def test_bad_globs_are_refused(bad: str) -> None:
    with pytest.raises(ToolError, match="invalid glob pattern"):
        Glob(bad)


def test_decode_text_trims_cut_characters_and_spots_binary() -> None:
    text = "héllo wörld ✓".encode()
    assert decode_text(text[:-1], "p", cut_end=True) == "héllo wörld "
    assert decode_text(text[2:], "p", cut_start=True) == "llo wörld ✓"
    with pytest.raises(ToolError, match="binary file"):
        decode_text(b"ab\x00cd", "p")
    with pytest.raises(ToolError, match="binary file"):
        decode_text(bytes(range(0x80, 0x100)) * 4, "p")


def test_line_ending_detection() -> None:
    assert line_ending(b"a\r\nb\r\n") == b"\r\n"
    assert line_ending(b"a\nb\n") == b"\n"
    assert line_ending(b"a\r\nb\n") is None
    assert line_ending(b"no newline") is None


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    server = filesystem_server(tmp_path)
    target = tmp_path / "f.txt"
    target.write_text("old")
    old_inode = target.stat().st_ino
    assert not invoke(server, "write_file", path="f.txt", content="new").is_error
    assert target.read_text() == "new" and target.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_failed_write_leaves_no_temp_files(tmp_path: Path) -> None:
    server = filesystem_server(tmp_path)
    (tmp_path / "ro").write_text("keep")
    (tmp_path / "ro").chmod(0o444)
    assert invoke(server, "write_file", path="ro", content="x").is_error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro"]


def test_tree_and_search_stop_at_their_caps(tmp_path: Path, monkeypatch) -> None:
    from servers.filesystem import reading

    for i in range(30):
        (tmp_path / f"d{i:02}").mkdir()
        (tmp_path / f"d{i:02}" / "x.txt").write_text("")
    monkeypatch.setattr(reading, "WALK_ENTRIES", 10)
    server = filesystem_server(tmp_path)
    tree = invoke(server, "directory_tree", path=".").text
    assert tree.endswith("Walk incomplete: stopped after the limit of 10 entries.")
    found = invoke(server, "search_files", path=".", pattern="*.txt").text
    assert found.count("x.txt") == 5 and "Walk incomplete" in found
    monkeypatch.setattr(reading, "WALK_DEPTH", 0)
    deep = invoke(server, "search_files", path=".", pattern="*.txt").text
    assert deep.startswith("No matches found") and "deeper than 0 levels" in deep


def test_server_start_imports_only_stdlib_and_mcpio() -> None:
    probe = (
        "import sys, servers.filesystem.server as s; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'pydantic', 'httpx', 'appliance', 'anyio', 'litellm')]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
