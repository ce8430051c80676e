"""Paths as the engine sees them: expanded, absolute, symlinks resolved, compared by components.

``resolve_on_disk`` and ``git_dir_of`` are the functions here that touch the filesystem; the
engine receives them (or a test's stand-ins) through ``EvalContext.resolve_path`` and
``EvalContext.git_dir_probe``. Everything else is string work.
"""

from __future__ import annotations

import os
import posixpath
import re

__all__ = [
    "ProtectedPaths",
    "absolute",
    "components",
    "git_dir_of",
    "is_env_file",
    "lexical",
    "resolve_on_disk",
]


def resolve_on_disk(path: str, home: str | None = None) -> str:
    """``~`` expanded, made absolute, symlinks resolved.

    For a path that does not exist yet, the deepest existing ancestor is resolved and the rest
    re-attached (``os.path.realpath`` without ``strict`` does exactly that, and it follows a
    dangling symlink to where a write would land). The common cases take a shorter road with the
    same answer, letting the kernel resolve: an existing path, and plain missing names under an
    existing folder. Anything else (a '..' after a missing name, a dangling link) goes through
    realpath.
    """
    if home is not None and (path == "~" or path.startswith("~/")):
        path = home + path[1:]
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path  # joined, never normalised: '..' must meet the disk
    if _PROC_FD:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except FileNotFoundError:
            real = _deepest_existing(path, absent=True)
        except OSError:
            real = _deepest_existing(path)
        else:
            real = _fd_real(fd)
            if real is None:
                real = _deepest_existing(path)
        if real is not None:
            return real
    return posixpath.realpath(path)


# What makes a folder a git directory, whatever its name: git itself accepts a folder with
# HEAD, objects/ and refs/ (a bare repository), and a linked worktree's admin folder holds
# HEAD, commondir and gitdir. One marker is enough here, so that assembling a git directory
# file by file in the sandbox always needs at least one write into a folder already marked.
_GIT_DIR_FILES = ("HEAD", "commondir", "gitdir")


def git_dir_of(path: str, stop: str) -> str | None:
    """The first folder from ``path`` up to ``stop`` (both resolved, absolute; ``stop`` an
    ancestor of ``path``) that is shaped like a git directory, else None.

    A folder is one when it is named ``.git``, holds a regular file ``HEAD``, ``commondir``
    or ``gitdir``, or holds both an ``objects`` and a ``refs`` folder. Writing inside such a
    folder writes what git reads as configuration (config, hooks, alternates): the engine
    escalates it rather than discharge it as a sandbox write. This is disk probing, so it
    lives here, injected into the engine as ``EvalContext.git_dir_probe``."""
    stop = stop.rstrip("/") or "/"
    folder = path.rstrip("/") or "/"
    while True:
        if posixpath.basename(folder) == ".git" or _shaped(folder):
            return folder
        if folder == stop or folder == "/":
            return None
        folder = posixpath.dirname(folder)


def _shaped(folder: str) -> bool:
    # isfile/isdir follow symlinks, as git does; a missing or unreadable folder is no git dir.
    if any(os.path.isfile(folder + "/" + name) for name in _GIT_DIR_FILES):
        return True
    return os.path.isdir(folder + "/objects") and os.path.isdir(folder + "/refs")


def _deepest_existing(path: str, absent: bool = False) -> str | None:
    """The kernel's resolution of the deepest existing folder, plus the missing rest.

    Only when the rest is plain names (no '.', no '..') and its first name is truly absent (not
    a dangling link): then nothing in the rest can be a link. Otherwise None (use realpath).
    ``absent``: opening the whole path failed with ENOENT, so the lookup stopped at the first
    missing name below the deepest existing folder, and only ENOENT (or a dangling link, which
    exists) can meet that name: a plain existence test tells the two apart.
    """
    parts = path.split("/")
    start = len(parts) - 1
    parent, _, name = path.rpartition("/")
    if name and name != "." and name != "..":  # the first round of the loop below, unrolled
        found, real = _in_parent(parent or "/", name, path, absent)
        if found:
            return real
        start -= 1
    for cut in range(start, 0, -1):
        folder = _kernel_real("/".join(parts[:cut]) or "/")
        if folder is None:
            continue
        rest = [part for part in parts[cut:] if part]
        if not rest:
            return folder
        if "." in rest or ".." in rest:
            return None
        first = "/".join(parts[:cut]) + "/" + rest[0]
        if not (_no_entry(first) if absent else _missing_entry(first)):
            return None
        return folder.rstrip("/") + "/" + "/".join(rest)
    return None


def _in_parent(parent: str, name: str, path: str, absent: bool) -> tuple[bool, str | None]:
    """The first round of ``_deepest_existing``: (the parent resolved, the answer then).

    With ``absent``, the name is tested in the very folder just resolved (no second lookup).
    """
    try:
        fd = os.open(parent, _OPEN_FLAGS)
    except OSError:
        return False, None
    try:
        folder = _link_of(fd)
        if folder is None:
            return False, None
        if absent:
            missing = not os.access(name, os.F_OK, dir_fd=fd, **_NO_FOLLOW)
        else:
            missing = _missing_entry(path)
    finally:
        os.close(fd)
    return True, (folder.rstrip("/") + "/" + name if missing else None)


def _kernel_real(path: str) -> str | None:
    """The kernel's own resolution of an existing path: one open, one readlink."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    return _fd_real(fd)


def _fd_real(fd: int) -> str | None:
    """Where an open O_PATH descriptor points, as the kernel names it; closes the descriptor."""
    try:
        return _link_of(fd)
    finally:
        os.close(fd)


def _link_of(fd: int) -> str | None:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if real.startswith("/") and not real.endswith(" (deleted)"):
        return real
    return None


def _missing_entry(path: str) -> bool:
    """True when nothing at all, not even a dangling symlink, has this name."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def _no_entry(path: str) -> bool:
    """``_missing_entry`` without the exception, once the lookup is known to end in ENOENT."""
    return not os.access(path, os.F_OK, **_NO_FOLLOW)


_NO_FOLLOW = {"effective_ids": True, "follow_symlinks": False}  # as lstat() sees the name


_PROC_FD = hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd")
_OPEN_FLAGS = getattr(os, "O_PATH", 0) | os.O_CLOEXEC


def absolute(path: str, home: str, base: str) -> str:
    """Expand ``~`` and ``~/`` with ``home``; join a relative path onto ``base``.

    ``~user`` is not expanded (it would need a user lookup): the argument check refuses it
    before it gets here, and anything else starting with ``~`` is an ordinary relative name.
    """
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    if not path.startswith("/"):
        path = base.rstrip("/") + "/" + path
    return path


def lexical(path: str) -> str:
    """Normalise an absolute path without touching the disk (``..`` removed textually)."""
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/")  # POSIX keeps a leading '//'; we never want it


def components(path: str) -> tuple[str, ...]:
    """The components of an absolute path, normalised on the way; ``/`` has none."""
    if path.startswith("/") and not path.startswith("//"):
        # normpath (in C) costs less than finding out whether it would change anything, and
        # leaves a path starting with one '/' as lexical() would
        path = posixpath.normpath(path)
        return tuple(path.split("/")[1:]) if path != "/" else ()
    if "//" in path or "/." in path or path.endswith("/"):
        path = lexical(path)
        if path == "/":
            return ()
    return tuple(path.split("/")[1:])


def is_env_file(parts: tuple[str, ...]) -> bool:
    if not parts:
        return False
    name = parts[-1].lower()
    return name == ".env" or name.startswith(".env.")


class ProtectedPaths:
    """Protected patterns, where ``*`` stands for exactly one component, compiled to two
    anchored regular expressions over the normalised path: "equal to or under a pattern" and
    "a folder above a pattern" (moving or deleting it takes one along). The expressions follow
    the patterns' shared folders as a tree, so a path is scanned once, and component
    boundaries are explicit (``/`` or the end): ``/a/b2`` never matches ``/a/b``.
    """

    def __init__(self, patterns: tuple[tuple[str, ...], ...]) -> None:
        tree: dict[str, dict] = {}
        for parts in patterns:
            node = tree
            for part in parts:
                node = node.setdefault(part, {})
            node[_END] = {}
        self._everything = _END in tree  # the pattern "/" protects everything
        self._under = re.compile(_under(tree)) if tree else None
        self._above = re.compile(_above(tree) + "$") if tree else None

    def check(self, parts: tuple[str, ...]) -> tuple[bool, bool]:
        """(protected, ancestor_of_protected)."""
        if self._under is None or self._above is None:
            return False, False
        if self._everything:
            return True, False
        path = "/" + "/".join(parts) if parts else ""
        if parts and self._under.match(path):
            return True, False
        return False, bool(self._above.match(path))


_END = "\x00"  # never a component: NUL is refused in every path


def _component(part: str) -> str:
    return "[^/]+" if part == "*" else re.escape(part)


def _under(node: dict[str, dict]) -> str:
    """Matches a path that reaches a pattern's end, followed by '/' or the end of the path."""
    options = [
        "(?=/|$)" if key == _END else "/" + _component(key) + _under(child)
        for key, child in node.items()
    ]
    return "(?:" + "|".join(options) + ")"


def _above(node: dict[str, dict]) -> str:
    """Matches a path that stops strictly above some pattern's end (the root included)."""
    options = [
        "/" + _component(key) + _above(child)
        for key, child in node.items()
        if key != _END and _has_below(child)
    ]
    return "(?:" + "|".join(["", *options]) + ")"


def _has_below(node: dict[str, dict]) -> bool:
    return any(key != _END for key in node)
