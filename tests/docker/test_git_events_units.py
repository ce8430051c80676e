"""The git guard's watch (git_events.py) on the real kernel, without a container: new git
metadata renamed the moment it appears, folders followed when renamed or moved in, links never
followed, lost events made up by a walk, and every way the watch can fail said out loud (its own
cap, the kernel's watch limit and inotify refused, both set for real in a user namespace)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.docker.git_events import GitEvents
from appliance.docker.git_guard import take_baseline
from appliance.docker.git_watch import GitWatch

AS_IT_APPEARED = "during the session, as it appeared"
ROOT = Path(__file__).parents[2]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "timed out"
        time.sleep(0.001)
    return time.monotonic() - began


def watched(workspace: Path, records: list, **options: object) -> GitWatch:
    """The guard as a session runs it, its sweeps an hour apart: what is renamed, the watch did."""
    return GitWatch(take_baseline(workspace), ".q", records.append, interval=3600,
                    **options).start()  # type: ignore[arg-type]  # fmt: skip


def renamed(records: list, when: str = AS_IT_APPEARED) -> set[str]:
    return {i["path"] for r in records if r.get("when") == when for i in r.get("items", ())}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    return tmp_path / "ws"


def test_a_dot_git_is_renamed_the_moment_it_appears(workspace: Path) -> None:
    (workspace / "a").mkdir()
    records: list = []
    watch = watched(workspace, records)
    try:
        (workspace / "a" / ".git").mkdir()
        took = wait_for(lambda: (workspace / "a" / ".git.q").is_dir())
    finally:
        watch.stop()
    assert took < 0.5, took
    assert renamed(records) == {"a/.git"}
    assert records[0] == {"type": "git-watch", "state": "watching", "watches": 2,
                          "maxWatches": watch.events.max_watches}  # type: ignore[union-attr]  # fmt: skip


def test_a_tree_made_in_one_go(workspace: Path) -> None:
    """`mkdir -p a/b/c/.git/objects`: the folders exist before their watches; the walk of `a`
    finds it (or its own watch, when set first: then `objects` may come too late)."""
    records: list = []
    watch = watched(workspace, records)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.makedirs(workspace / "a" / "b" / "c" / ".git" / "objects")
        wait_for(lambda: (workspace / "a" / "b" / "c" / ".git.q").is_dir())
    finally:
        watch.stop()
    assert renamed(records) == {"a/b/c/.git"}


def test_a_folder_renamed_in_the_workspace_is_followed(workspace: Path) -> None:
    """d/e watched, d renamed f: a `.git` made in f/e is renamed there (its watch says d/e)."""
    (workspace / "d" / "e").mkdir(parents=True)
    records: list = []
    watch = watched(workspace, records)
    try:
        os.rename(workspace / "d", workspace / "f")
        (workspace / "f" / "e" / ".git").mkdir()
        wait_for(lambda: (workspace / "f" / "e" / ".git.q").is_dir())
        (workspace / "f" / "e" / "HEAD").write_text("ref: refs/heads/main\n")
        (workspace / "f" / "e" / "refs").mkdir()
        wait_for(lambda: (workspace / "f" / "e" / "HEAD.q").is_file())
        # the workspace, f, f/e, f/e/.git.q and f/e/refs (refs is watched once its event is
        # read, which may come after HEAD's rename on a busy machine)
        wait_for(lambda: watch.events.watches == 5)  # type: ignore[union-attr]
    finally:
        watch.stop()
    assert renamed(records) == {"f/e/.git", "f/e"}
    assert watch.events.watches == 5  # type: ignore[union-attr]


def test_a_tree_moved_in_from_outside(workspace: Path, tmp_path: Path) -> None:
    """A repository prepared outside the workspace (the container's /tmp is elsewhere; here the
    same filesystem, so one rename brings the whole tree in at once)."""
    prepared = tmp_path / "outside" / "r"
    (prepared / "s" / ".git" / "objects").mkdir(parents=True)
    (prepared / "s" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    records: list = []
    watch = watched(workspace, records)
    try:
        os.rename(prepared, workspace / "r")
        wait_for(lambda: (workspace / "r" / "s" / ".git.q").is_dir())
    finally:
        watch.stop()
    assert renamed(records) == {"r/s/.git"}


def test_links_are_never_followed(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (workspace / "link").symlink_to(outside)
    records: list = []
    watch = watched(workspace, records)
    try:
        (outside / ".git").mkdir()
        (workspace / ".git").symlink_to(outside)  # a link named .git is metadata: renamed
        wait_for(lambda: (workspace / ".git.q").is_symlink())
        time.sleep(0.2)
    finally:
        watch.stop()
    assert (outside / ".git").is_dir(), "a folder outside the workspace was touched"
    assert watch.events.watches == 1  # type: ignore[union-attr]  # the workspace only
    assert renamed(records) == {".git"}


def test_the_workspace_itself_made_a_bare_repository(workspace: Path) -> None:
    records: list = []
    watch = watched(workspace, records)
    try:
        (workspace / "objects").mkdir()
        (workspace / "HEAD").write_text("ref: refs/heads/main\n")
        wait_for(lambda: (workspace / "HEAD.q").is_file())
    finally:
        watch.stop()
    assert renamed(records) == {"."}


def test_deleted_folders_give_their_watches_back(workspace: Path) -> None:
    records: list = []
    watch = watched(workspace, records)
    events = watch.events
    assert events is not None
    try:
        for index in range(20):
            (workspace / "t" / str(index)).mkdir(parents=True)
        wait_for(lambda: events.watches == 22)
        shutil.rmtree(workspace / "t")
        wait_for(lambda: events.watches == 1)
    finally:
        watch.stop()


def test_lost_events_make_a_walk_of_everything(workspace: Path) -> None:
    """The kernel's queue overflows (IN_Q_OVERFLOW) while the watch is held up: the `.git` made
    after that is in no event, and the walk that the overflow starts renames it."""
    (workspace / "a").mkdir()
    (workspace / "b").mkdir()
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    lock, found, degraded = threading.Lock(), [], []
    events = GitEvents(take_baseline(workspace), ".q", lock, found.extend, degraded.append)
    events.start()
    try:
        with lock:  # the watch blocks renaming a/.git: it reads nothing meanwhile
            (workspace / "a" / ".git").mkdir()
            time.sleep(0.2)
            for index in range(queued + 100):
                os.close(os.open(workspace / "a" / f"f{index}", os.O_CREAT | os.O_WRONLY))
            (workspace / "b" / ".git").mkdir()
        wait_for(lambda: (workspace / "b" / ".git.q").is_dir())
    finally:
        events.stop()
    assert {f.relative for f, _ in found} == {"a/.git", "b/.git"}
    assert degraded == []


def test_the_watch_cap_is_said_and_the_sweep_takes_over(
    workspace: Path, capsys: pytest.CaptureFixture
) -> None:
    """More folders than the guard may watch: it says so at once (terminal, audit), keeps the
    watches it has (the shallowest: the walk is breadth first; a/.git renamed at once) and
    sweeps back to back (d/x/y/.git, in a folder not watched)."""
    (workspace / "a").mkdir()
    (workspace / "d" / "x" / "y").mkdir(parents=True)
    records: list = []
    watch = watched(workspace, records, max_watches=3)
    try:
        assert watch.degraded
        time.sleep(0.1)  # the sweep the warning started is over
        (workspace / "a" / ".git").mkdir()
        (workspace / "d" / "x" / "y" / ".git").mkdir()
        wait_for(lambda: (workspace / "d" / "x" / "y" / ".git.q").is_dir(), timeout=3)
        wait_for(lambda: (workspace / "a" / ".git.q").is_dir())
    finally:
        watch.stop()
    err = capsys.readouterr().err
    assert "WARNING: git metadata the agent makes is no longer caught the moment" in err
    assert "more folders than the guard may watch (3" in err
    [degraded] = [r for r in records if r["type"] == "git-watch"]
    assert degraded["state"] == "degraded" and degraded["maxWatches"] == 3, degraded
    assert renamed(records) == {"a/.git"}
    assert renamed(records, "during the session") == {"d/x/y/.git"}


# The kernel's own limits, set for real in a user namespace of this test's (the rest of the
# machine keeps its own): `fs.inotify` watches and instances per user.
LIMITED = r"""
import contextlib, io, json, os, sys, time
from pathlib import Path
from appliance.docker.git_guard import take_baseline
from appliance.docker.git_watch import GitWatch
from appliance.docker.inotify import Inotify
Path(sys.argv[1]).write_text(sys.argv[2])
workspace, depth, others = Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ide = Inotify() if others else None  # the user's other programs (an IDE) hold watches too
for index in range(others):
    (workspace.parent / "ide" / str(index)).mkdir(parents=True)
    ide.add(os.open(workspace.parent / "ide" / str(index), os.O_RDONLY))
(workspace / "a").mkdir()
deep = workspace.joinpath("deep", *map(str, range(depth)))
deep.mkdir(parents=True)
records, err = [], io.StringIO()
with contextlib.redirect_stderr(err):
    watch = GitWatch(take_baseline(workspace), ".q", records.append, interval=3600).start()
    time.sleep(0.1)  # the sweep the warning started is over
    made = [workspace / "a" / ".git", deep / ".git"]
    for path in made:
        path.mkdir()
    deadline = time.monotonic() + 10
    while any(path.exists() for path in made) and time.monotonic() < deadline:
        time.sleep(0.01)
    watch.stop()
print(json.dumps({"records": records, "err": err.getvalue()}))
"""


def limited(tmp_path: Path, limit: str, value: int, depth: int, others: int = 0) -> dict:
    """The guard run in a user namespace whose `limit` is `value`, on a workspace of `a` and
    `deep/0/.../<depth - 1>` (the walk is breadth first: `a` is watched before the deep ones),
    a `.git` then made in `a` and at the bottom; `others` watches held by another instance."""
    probe = subprocess.run(["unshare", "-U", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no user namespace here: {probe.stderr.decode().strip()}")
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    done = subprocess.run(
        ["unshare", "-U", "--map-root-user", sys.executable, "-c", LIMITED,
         f"/proc/sys/user/{limit}", str(value), str(workspace), str(depth), str(others)],
        capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_kernels_watch_limit_is_said_and_the_sweep_takes_over(tmp_path: Path) -> None:
    """ENOSPC from inotify_add_watch: the user's other programs hold 36 of the 40 watches the
    kernel allows (fs.inotify.max_user_watches, here set in the namespace), so the guard gets 4,
    short of its own cap of 10: `a` is watched and its .git renamed at once; the deepest folder
    is not, the sweep (back to back from then on) renames its .git."""
    seen = limited(tmp_path, "max_inotify_watches", 40, 6, others=36)
    assert "your user's inotify watch limit is reached" in seen["err"], seen["err"]
    [degraded] = [r for r in seen["records"] if r["type"] == "git-watch"]
    assert degraded["state"] == "degraded" and degraded["watches"] == 4, degraded
    assert renamed(seen["records"]) == {"a/.git"}
    assert renamed(seen["records"], "during the session") == {"deep/0/1/2/3/4/5/.git"}


def test_inotify_refused_is_said_and_the_sweep_takes_over(tmp_path: Path) -> None:
    """inotify_init1 fails (fs.inotify.max_user_instances: here 0): the guard says so and
    sweeps back to back; both repositories are renamed by sweeps within a second or so."""
    seen = limited(tmp_path, "max_inotify_instances", 0, 1)
    refused = "inotify cannot be used here (inotify_init1: Too many open files)"
    assert refused in seen["err"], seen["err"]
    [degraded] = [r for r in seen["records"] if r["type"] == "git-watch"]
    assert degraded["state"] == "degraded" and degraded["watches"] == 0, degraded
    assert renamed(seen["records"], "during the session") == {"a/.git", "deep/0/.git"}


def test_an_original_bare_repository_is_not_watched_inside(workspace: Path) -> None:
    """tests/repo.git was there at the start (read-only to the agent): the user's own git may
    add a worktree's admin folder in it during the session; the watch leaves it alone, as the
    sweep does, and does not spend a watch on it."""
    bare = workspace / "tests" / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    records: list = []
    watch = watched(workspace, records)
    try:
        admin = bare / "worktrees" / "wt"
        admin.mkdir(parents=True)
        (admin / "commondir").write_text("../..\n")
        (admin / "HEAD").write_text("ref: refs/heads/main\n")
        (workspace / "tests" / "new.git" / "refs").mkdir(parents=True)
        (workspace / "tests" / "new.git" / "HEAD").write_text("ref: refs/heads/main\n")
        wait_for(lambda: (workspace / "tests" / "new.git" / "HEAD.q").is_file())
    finally:
        watch.stop()
    assert (admin / "HEAD").is_file()
    assert renamed(records) == {"tests/new.git"}
