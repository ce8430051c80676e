"""Git metadata caught the moment it appears: an inotify watch on every folder of the workspace.

A sweep (`git_guard.GitWatch`) walks the whole workspace every few seconds, and in between what
the agent made is live to the host's git: an IDE's `git status` in that folder runs its
`core.fsmonitor`. `GitEvents` watches every folder instead (`inotify.py`), and an entry made or
moved in that could be git metadata is looked at and quarantined at once, with the functions the
sweep uses: a name that folds to `.git` (`found_at`), a `HEAD`, `objects`, `refs` or `commondir`
that may make its folder git-directory-shaped (`shaped_at`), a path the original repositories'
config names (`Baseline.rename_named`). A folder made or moved in is watched first, then listed
and walked (`scan` with `on_folder`): what appeared in it before its watch was set is found by
the listing. Events are read between every two folders of a walk, so a long walk (a large tree
moved in) delays nothing else.

Folders are tracked as a tree of watches (parent, name): a folder renamed inside the workspace
keeps its watch and is resolved to where it is now (the move's two events share a cookie); its
tree is walked again too (the move may have crossed a walk). Events the kernel lost
(`IN_Q_OVERFLOW`) make a walk of the whole workspace. No link is ever followed: folders are
opened one component at a time from the workspace (`open_folder`) and the watch is set on the
folder opened.

It fails loud, never quiet, and the sweep goes on: when inotify cannot be used, when the watches
it may take run out (at most `1/WATCH_SHARE` of the user's `fs.inotify.max_user_watches`, which
the user's IDE needs too; or the kernel's limit itself), when the workspace's own watch is lost,
or when the watcher fails, `degraded` holds why and `on_degraded` is called once. Folders
already watched stay watched; the others are left to the sweep, which then runs back to back.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.docker.git_metadata import (
    GIT_DIR_SHAPED,
    GONE,
    SHAPE_NAMES,
    Found,
    fold,
    found_at,
    is_dot_git,
    quarantine,
    scan,
    shaped_at,
)
from appliance.docker.inotify import (
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Event,
    Inotify,
    max_user_watches,
)

if TYPE_CHECKING:
    from appliance.docker.git_guard import Baseline

__all__ = ["WATCH_SHARE", "GitEvents"]

WATCH_SHARE = 4  # the guard takes at most a quarter of the user's inotify watches
REPORT_EVERY = 0.5  # seconds: what was renamed is reported at least this often while busy
_MAX_MOVING = 4096  # folder moves waiting for their second half
_ALL = (None, "")  # a walk of the whole workspace

Renamed = list[tuple[Found, str]]


class _Stopped(Exception):
    """The session is over: a walk in progress ends at its next folder (the last sweep
    follows)."""


class GitEvents:
    """Watches the workspace of `baseline`; renames new git metadata with `suffix` under `lock`
    (shared with the sweep) and hands what it renamed to `on_renamed`."""

    def __init__(
        self,
        baseline: Baseline,
        suffix: str,
        lock: threading.Lock,
        on_renamed: Callable[[Renamed], None],
        on_degraded: Callable[[str], None],
        max_watches: int | None = None,
    ) -> None:
        self.baseline, self.root, self.suffix, self.lock = (
            baseline, baseline.workspace, suffix, lock)  # fmt: skip
        self.on_renamed, self.on_degraded = on_renamed, on_degraded
        self.max_watches = max_watches or max(1, max_user_watches() // WATCH_SHARE)
        self.degraded: str | None = None
        self._ino: Inotify | None = None
        self._root_wd: int | None = None
        self._nodes: dict[int, tuple[int | None, str]] = {}  # wd -> (parent wd, name)
        self._children: dict[int, dict[str, int]] = {}
        self._moving: dict[int, int] = {}  # cookie -> wd of a folder moved out of its parent
        self._walks: dict[tuple[int | None, str], None] = {}  # (parent wd, name), in order
        self._seen: set[int] | None = None  # during a walk of everything: the watches met
        self._renamed: Renamed = []
        self._reported = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="git-events", daemon=True)

    @property
    def watches(self) -> int:
        return len(self._nodes)

    def start(self) -> None:
        """Watch every folder (a walk: call it before the agent starts), then keep watching in
        a thread. When inotify cannot be used, says so (`on_degraded`) and returns."""
        try:
            self._ino = Inotify()
        except OSError as exc:
            self._degrade(f"inotify cannot be used here ({exc.strerror or exc})")
            return
        try:
            self._walk(())
        except _Stopped:
            return
        except Exception as exc:  # the sweep goes on alone; say so
            self._degrade(f"the watch failed ({type(exc).__name__}: {exc})")
        self._report()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._report()
        if self._ino is not None:
            self._ino.close()  # releases every watch

    def _run(self) -> None:
        try:
            while self._ino is not None and not self._stop.is_set():
                if self._walks:
                    parent, name = next(iter(self._walks))
                    del self._walks[parent, name]
                    self._walk_at(parent, name)
                else:
                    self._report()
                    self._handle(self._ino.read(0.2))
        except _Stopped:
            return
        except Exception as exc:  # the sweep goes on alone; say so
            self._degrade(f"the watch failed ({type(exc).__name__}: {exc})")

    # Walks: watch, list, find, quarantine.

    def _walk_at(self, parent: int | None, name: str) -> None:
        if (parent, name) == _ALL:
            self._walk(())
            return
        where = self._path(parent) if parent is not None else None
        if where is not None:
            self._walk((*where, name))

    def _walk(self, parts: tuple[str, ...]) -> None:
        """Watch and examine the tree at `parts`; the whole workspace when `parts` is ()."""
        if not parts:
            self._seen = set()
        result = scan(self.root, start=parts, descend=self._descend, max_steps=None,
                      on_folder=self._watch)  # fmt: skip
        self._quarantine([f for f in result.found if not self.baseline.is_original(f)])
        self._rename_named(parts)
        if not parts and self._seen is not None:
            self._forget_unseen(self._seen)
            self._seen = None

    def _descend(self, found: Found) -> bool:
        return not self.baseline.is_original(found)

    def _watch(self, fd: int, parts: tuple[str, ...]) -> None:
        """`scan`'s hook, with the folder at `parts` open: watch it, then read the events. A
        folder watched already keeps its watch (and may have moved: relinked here), even once
        no more may be taken. An original git directory is not watched: the agent has it
        read-only, and what the user's git makes inside it is theirs (the sweep does not
        look inside either)."""
        if self._stop.is_set():
            raise _Stopped
        if self._ino is None or self._is_original_folder(fd, parts):
            return
        try:
            wd = self._ino.add(fd)
        except OSError as exc:
            self._no_more_watches(exc)
        else:
            self._link(wd, parts)
        self._handle(self._ino.read(0))
        if time.monotonic() - self._reported > REPORT_EVERY:
            self._report()

    def _is_original_folder(self, fd: int, parts: tuple[str, ...]) -> bool:
        info = os.fstat(fd)
        here = Found(parts, GIT_DIR_SHAPED, "directory", (info.st_dev, info.st_ino))
        return self.baseline.is_original(here)

    def _no_more_watches(self, exc: OSError) -> None:
        if exc.errno == errno.ENOSPC:
            self._degrade("your user's inotify watch limit is reached (fs.inotify.max_user_"
                          f"watches = {max_user_watches()}, shared with your IDE; raise it for a "
                          "workspace this large)")  # fmt: skip
        else:
            self._degrade(f"a folder of the workspace cannot be watched ({exc})")

    def _link(self, wd: int, parts: tuple[str, ...]) -> None:
        if wd not in self._nodes and len(self._nodes) >= self.max_watches:
            self._ino.remove(wd)  # type: ignore[union-attr]
            self._degrade(f"the workspace has more folders than the guard may watch "
                          f"({self.max_watches}; it takes at most a quarter of fs.inotify."
                          "max_user_watches, the rest is your IDE's: raise it for a workspace "
                          "this large)")  # fmt: skip
            return
        if self._seen is not None:
            self._seen.add(wd)
        self._unlink(wd)
        if not parts:
            self._root_wd, parent, name = wd, None, ""
        else:
            parent, name = self._wd_at(parts[:-1]), parts[-1]
        self._nodes[wd] = (parent, name)
        if parent is not None:
            self._children.setdefault(parent, {})[name] = wd

    def _unlink(self, wd: int) -> None:
        parent, name = self._nodes.get(wd, (None, ""))
        if parent is not None and self._children.get(parent, {}).get(name) == wd:
            del self._children[parent][name]

    def _forget(self, wd: int) -> None:
        self._unlink(wd)
        self._nodes.pop(wd, None)
        self._children.pop(wd, None)
        if wd == self._root_wd:
            self._degrade("the workspace folder itself is no longer watched (removed or "
                          "replaced on the host)")  # fmt: skip

    def _forget_unseen(self, seen: set[int]) -> None:
        """After a walk of everything: watches of folders no longer in the workspace."""
        for wd in [wd for wd in self._nodes if wd not in seen]:
            self._ino.remove(wd)  # type: ignore[union-attr]
            self._forget(wd)

    def _wd_at(self, parts: tuple[str, ...]) -> int | None:
        wd = self._root_wd
        for name in parts:
            if wd is None:
                return None
            wd = self._children.get(wd, {}).get(name)
        return wd

    def _path(self, wd: int) -> tuple[str, ...] | None:
        """Where the folder watched by `wd` is now, or None when it is not known."""
        names: list[str] = []
        for _ in range(len(self._nodes) + 1):  # no longer without a loop (lost events)
            if wd == self._root_wd:
                return tuple(reversed(names))
            parent, name = self._nodes.get(wd, (None, ""))
            if parent is None:
                return None
            names.append(name)
            wd = parent
        return None

    # Events.

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if event.mask & IN_Q_OVERFLOW:
                self._walks[_ALL] = None
            elif event.mask & IN_IGNORED:
                self._forget(event.wd)
            elif event.wd not in self._nodes:
                continue
            elif event.mask & IN_MOVED_FROM:
                self._moved_out(event)
            else:  # IN_CREATE, IN_MOVED_TO
                self._appeared(event)

    def _moved_out(self, event: Event) -> None:
        child = self._children.get(event.wd, {}).pop(event.name, None)
        if child is None or not event.mask & IN_ISDIR:
            return
        self._nodes[child] = (None, event.name)  # until its second half says where it went
        self._moving[event.cookie] = child
        while len(self._moving) > _MAX_MOVING:
            del self._moving[next(iter(self._moving))]

    def _appeared(self, event: Event) -> None:
        parent = self._path(event.wd)
        if parent is None:
            return
        parts = (*parent, event.name)
        if event.mask & IN_MOVED_TO and event.cookie in self._moving:
            child = self._moving.pop(event.cookie)
            if child in self._nodes:
                self._nodes[child] = (event.wd, event.name)
                self._children.setdefault(event.wd, {})[event.name] = child
        found = []
        if is_dot_git(event.name):
            found.append(found_at(self.root, parts))
        if fold(event.name) in SHAPE_NAMES:
            found.append(shaped_at(self.root, parent))
        self._quarantine([f for f in found if f is not None and not self.baseline.is_original(f)])
        self._rename_named(parts)
        if event.mask & IN_ISDIR:
            self._walks[event.wd, event.name] = None

    # Quarantine and report.

    def _quarantine(self, found: list[Found]) -> None:
        if found:
            with self.lock:
                renamed = quarantine(self.root, found, self.suffix)
            self._renamed += [(f, outcome) for f, outcome in renamed if outcome != GONE]

    def _rename_named(self, parts: tuple[str, ...]) -> None:
        if any(named[: len(parts)] == parts for named, _ in self.baseline.named):
            with self.lock:
                self._renamed += self.baseline.rename_named(self.suffix, under=parts)

    def _report(self) -> None:
        self._reported = time.monotonic()
        if self._renamed:
            renamed, self._renamed = self._renamed, []
            self.on_renamed(renamed)

    def _degrade(self, reason: str) -> None:
        if self.degraded is None:
            self.degraded = reason
            self.on_degraded(reason)
