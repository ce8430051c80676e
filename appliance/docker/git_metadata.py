"""Git metadata in a workspace: recognised by shape, found by a bounded walk, neutralised by rename.

Git run in a folder takes for a repository (and reads its config, hooks and attributes as the
user's own trusted settings) the first of these it meets walking up from that folder:

- an entry named `.git` of any type: a directory, a `gitdir:` file, a symlink. Names are compared
  folded the way a case-insensitive or Windows filesystem would see them (`.GIT`, `.git.`,
  `.g\u200cit` on HFS+, `git~1` on NTFS), so a name that *could* be `.git` somewhere counts;
- a folder shaped like a git directory: a non-directory `HEAD` beside `objects`, `refs` or
  `commondir` (a bare repository, a linked worktree's or a submodule's admin folder).

`scan` walks a tree breadth first (shallow folders first: the ones a user runs git in), never
follows a symlink, opens every folder from the root one component at a time with `O_NOFOLLOW`
(so a folder swapped for a link meanwhile is refused, not followed), and stops after
`MAX_STEPS` folder opens and entries: its answer says whether it was complete. `found_at` and
`shaped_at` look at one place the same way (a watch told of a new entry there: `git_events.py`).
`quarantine` renames what it is given, inside the same folder, to a name git ignores.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GONE", "MAX_STEPS", "SHAPE_NAMES", "Found", "Scan", "fold", "found_at", "identity_at",
    "is_dot_git", "is_git_dir_shaped", "open_folder", "quarantine", "quarantine_named", "scan",
    "shaped_at",
]  # fmt: skip

MAX_STEPS = 2_000_000  # folder opens plus entries read, for one scan
DOT_GIT = "dot-git"  # an entry named .git (any type)
GIT_DIR_SHAPED = "git-dir-shaped"  # a folder git would take for a git directory
GONE = "gone"  # quarantine's outcome when nothing is left at the path: nothing for git to find
# ... and when something else is at the path since it was found (the agent replaced it, or moved
# an original aside in between): not renamed here, since it may be an original put back; the
# watch's event for the new entry, or the next sweep, looks at it as it is now.
REPLACED = "replaced since it was found: looked at again"
SHAPE_NAMES = frozenset({"head", "objects", "refs", "commondir"})  # folded: what makes a shape
# Code points HFS+ ignores in names (git's own list, utf8.c is_hfs_dotgit).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Found:
    """One piece of git metadata: where (names below the root), what, and which inode."""

    parts: tuple[str, ...]
    kind: str  # DOT_GIT or GIT_DIR_SHAPED
    file_type: str  # "directory", "file", "symlink" or "other"
    identity: tuple[int, ...]  # (st_dev, st_ino[, st_ctime_ns for a link or special file])

    @property
    def relative(self) -> str:
        return "/".join(self.parts) or "."


@dataclass(frozen=True)
class Scan:
    found: tuple[Found, ...]
    complete: bool  # False: MAX_STEPS ran out and some folders were not read


def fold(name: str) -> str:
    """`name` as a case-insensitive, HFS+ or NTFS filesystem might resolve it."""
    folded = _HFS_IGNORED.sub("", name).lower()
    folded = folded.removesuffix("::$index_allocation")
    return folded.rstrip(". ")


def is_dot_git(name: str) -> bool:
    return fold(name) in (".git", "git~1")


def is_git_dir_shaped(folder: Path) -> bool:
    """Would git take `folder` itself for a git directory?"""
    try:
        with open_folder(folder, ()) as fd:
            return _shaped(fd, _entries(fd)) is not None
    except OSError:
        return False


def scan(
    root: Path,
    *,
    descend: Callable[[Found], bool] = lambda found: True,
    max_steps: int | None = MAX_STEPS,
    repair: bool = False,
    start: tuple[str, ...] = (),
    on_folder: Callable[[int, tuple[str, ...]], None] | None = None,
) -> Scan:
    """Every piece of git metadata under `root` (root included as a shaped folder). `descend`
    says whether to look inside a metadata folder found (unchanged originals need not be). A
    folder this user may not read (the agent's `chmod 111 a` hides `a/.git` from a listing, not
    from git) makes the scan incomplete; with `repair` (only once the agent is gone: nothing can
    swap it for a link meanwhile) its owner's permissions are given back and it is read.
    `max_steps=None`: no limit (the last sweep: the agent is gone, the tree no longer grows,
    and a limit it could exceed on purpose would leave its metadata in place). `start`: walk
    only that folder's tree (reached from `root` without links); `on_folder(fd, parts)` is
    called with each folder open, before it is listed (a watch set then misses nothing)."""
    found: list[Found] = []
    queue: deque[tuple[str, ...]] = deque([start])
    steps, complete = 0, True
    while queue:
        parts = queue.popleft()
        steps += len(parts) + 1
        if max_steps is not None and steps > max_steps:
            return Scan(tuple(found), complete=False)
        try:
            listed = _list(root, parts, repair, on_folder)
        except PermissionError:
            complete = False
            continue
        except OSError:
            continue  # gone or swapped for a link meanwhile: nothing git could enter there
        device, entries, here = listed
        steps += len(entries)
        if here is not None:
            here = Found(parts, GIT_DIR_SHAPED, "directory", here)
            found.append(here)
            if not descend(here):
                continue
        for name, (file_type, identity) in entries.items():
            item = Found((*parts, name), DOT_GIT, file_type, (device, *identity))
            if is_dot_git(name):
                found.append(item)
                if not descend(item):
                    continue
            if file_type == "directory":
                queue.append(item.parts)
    return Scan(tuple(found), complete=complete)


def _list(root: Path, parts: tuple[str, ...], repair: bool, on_folder: Callable | None) -> tuple:
    """(device, entries, shaped identity or None) of one folder."""
    try:
        return _read_folder(root, parts, on_folder)
    except PermissionError:
        if not repair:
            raise
    _let_owner_in(root, parts)
    return _read_folder(root, parts, on_folder)


def _read_folder(root: Path, parts: tuple[str, ...], on_folder: Callable | None = None) -> tuple:
    with open_folder(root, parts) as fd:
        if on_folder is not None:
            on_folder(fd, parts)
        entries = _entries(fd)
        return os.fstat(fd).st_dev, entries, _shaped(fd, entries)


def _let_owner_in(root: Path, parts: tuple[str, ...]) -> None:
    """Give the owner read and search permission on each folder on the way to `root/parts`."""
    for depth in range(len(parts) + 1):
        if depth == 0:
            os.chmod(root, stat.S_IMODE(os.lstat(root).st_mode) | 0o700)
            continue
        with open_folder(root, parts[: depth - 1]) as fd:
            info = os.stat(parts[depth - 1], dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(parts[depth - 1])
            os.chmod(parts[depth - 1], stat.S_IMODE(info.st_mode) | 0o700, dir_fd=fd)


@contextlib.contextmanager
def open_folder(root: Path, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of `root/parts...`, opened one component at a time, never through a link."""
    fd = os.open(root, _FLAGS)
    try:
        for name in parts:
            inner = os.open(name, _FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def quarantine(root: Path, found: list[Found], suffix: str) -> list[tuple[Found, str]]:
    """Rename each piece so git no longer discovers it: a `.git` entry becomes
    `<name><suffix>`, a shaped folder loses its `HEAD` (renamed `HEAD<suffix>`). Deepest first,
    so a rename never moves what is still to be renamed. Returns (found, new name or error)."""
    order = sorted(found, key=lambda f: (-len(f.parts), f.kind != GIT_DIR_SHAPED))
    return [(item, _rename(root, item, suffix)) for item in order]


def _rename(root: Path, item: Found, suffix: str) -> str:
    try:
        return _rename_found(root, item, suffix)
    except FileNotFoundError:
        return GONE  # moved or deleted since it was found (by a watch, too): found where it went
    except OSError as exc:
        return f"error: {exc.strerror or exc}"


def _rename_found(root: Path, item: Found, suffix: str) -> str:
    if item.kind == GIT_DIR_SHAPED:
        with open_folder(root, item.parts) as fd:
            heads = [n for n, (t, _) in _entries(fd).items()
                     if fold(n) == "head" and t != "directory"]  # fmt: skip
            return ", ".join(_rename_in(fd, n, suffix) for n in heads) or GONE
    with open_folder(root, item.parts[:-1]) as fd:
        info = os.stat(item.parts[-1], dir_fd=fd, follow_symlinks=False)
        if (info.st_dev, info.st_ino) != item.identity[:2]:
            return REPLACED
        return _rename_in(fd, item.parts[-1], suffix)


def _rename_in(fd: int, name: str, suffix: str) -> str:
    """Rename `name` inside the folder `fd` to a free `name+suffix[-random]` (never onto
    another)."""
    for attempt in range(20):  # then random: the agent may know the session's id
        target = f"{name}{suffix}" + (f"-{secrets.token_hex(4)}" if attempt else "")
        try:
            os.stat(target, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            try:
                os.rename(name, target, src_dir_fd=fd, dst_dir_fd=fd)
            except PermissionError:
                # The agent runs as the user on a non-root host and can `chmod 555` the folder
                # (and a shaped one) to keep its metadata; `fd` is that very folder, reached
                # without links, so giving its owner write permission back cannot be redirected.
                os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o300)
                os.rename(name, target, src_dir_fd=fd, dst_dir_fd=fd)
            return target
    return "error: no free quarantine name"


def _entries(fd: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (type, identity), from the directory listing itself: the inode, and for a
    `.git` link or special file (never mounted, so the agent can replace it, and a new inode
    may reuse the old number) its change time too."""
    listed = {}
    with os.scandir(fd) as listing:
        for entry in listing:
            file_type, identity = _type(entry), (entry.inode(),)
            if file_type in ("symlink", "other") and is_dot_git(entry.name):
                identity += (entry.stat(follow_symlinks=False).st_ctime_ns,)
            listed[entry.name] = (file_type, identity)
    return listed


def _shaped(fd: int, entries: dict) -> tuple[int, int] | None:
    """This folder's identity, if git would take it for a git directory."""
    folded = {fold(name): file_type for name, (file_type, _) in entries.items()}
    if folded.get("head", "directory") == "directory":
        return None
    if not any(name in folded for name in ("objects", "refs", "commondir")):
        return None
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _type(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


def found_at(root: Path, parts: tuple[str, ...]) -> Found | None:
    """The `.git` entry at `root/parts...` as `scan` records it, or None when nothing is there
    (or the way to it is no longer plain folders: `scan` would not follow it either)."""
    try:
        with open_folder(root, parts[:-1]) as fd:
            info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            device = os.fstat(fd).st_dev
    except OSError:
        return None
    mode = info.st_mode
    if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        file_type = "symlink" if stat.S_ISLNK(mode) else "other"
        return Found(parts, DOT_GIT, file_type, (device, info.st_ino, info.st_ctime_ns))
    file_type = "directory" if stat.S_ISDIR(mode) else "file"
    return Found(parts, DOT_GIT, file_type, (device, info.st_ino))


def shaped_at(root: Path, parts: tuple[str, ...]) -> Found | None:
    """The folder `root/parts...` if git would take it for a git directory, as `scan` records
    it; None otherwise."""
    try:
        with open_folder(root, parts) as fd:
            here = _shaped(fd, _entries(fd))
    except OSError:
        return None
    return Found(parts, GIT_DIR_SHAPED, "directory", here) if here is not None else None


def identity_at(root: Path, parts: tuple[str, ...]) -> tuple[int, ...] | None:
    """(st_dev, st_ino) of `root/parts...` reached through plain folders only, or None when
    nothing is there. `NotADirectoryError` when a folder on the way is a link or a file."""
    try:
        with open_folder(root, parts[:-1]) as fd:
            info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NotADirectoryError(exc.errno, exc.strerror) from exc
    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
        return info.st_dev, info.st_ino  # mounted read-only: it cannot be replaced
    return info.st_dev, info.st_ino, info.st_ctime_ns


def quarantine_named(
    root: Path, parts: tuple[str, ...], identity: tuple[int, ...] | None, suffix: str
) -> tuple[str, str] | None:
    """A path the user's git config names (a hooks folder, a pager script): if what is there now
    is not what was there at the start, rename it (or the first link or file on the way to it).
    Returns (the path renamed, its new name or an error), or None when all is as it was."""
    for depth in range(1, len(parts) + 1):
        try:
            now = identity_at(root, parts[:depth])
        except NotADirectoryError:
            continue  # the component before this one is what must go; found at depth - 1
        if depth < len(parts) and now is not None and not _is_dir_at(root, parts[:depth]):
            return _rename_named(root, parts[:depth], suffix)
        if now is None:
            return None
        if depth == len(parts) and now != identity:
            return _rename_named(root, parts, suffix)
    return None


def _is_dir_at(root: Path, parts: tuple[str, ...]) -> bool:
    try:
        with open_folder(root, parts):
            return True
    except OSError:
        return False


def _rename_named(root: Path, parts: tuple[str, ...], suffix: str) -> tuple[str, str]:
    try:
        with open_folder(root, parts[:-1]) as fd:
            return "/".join(parts), _rename_in(fd, parts[-1], suffix)
    except OSError as exc:
        return "/".join(parts), f"error: {exc.strerror or exc}"
