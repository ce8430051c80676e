"""Paths as the engine sees them: expanded, absolute, symlinks resolved, compared by components.

``resolve_on_disk`` is the one function here that touches the filesystem; the engine receives it
(or a test's stand-in) through ``EvalContext.resolve_path``. Everything else is string work.
"""

from __future__ import annotations

import os
import posixpath

__all__ = [
    "ProtectedPaths",
    "absolute",
    "components",
    "is_env_file",
    "lexical",
    "resolve_on_disk",
]


def resolve_on_disk(path: str, home: str | None = None) -> str:
    """``~`` expanded, made absolute, symlinks resolved.

    For a path that does not exist yet, the deepest existing ancestor is resolved and the rest
    re-attached (``os.path.realpath`` without ``strict`` does exactly that, and it follows a
    dangling symlink to where a write would land). Two common cases take a shorter road with
    the same answer: an existing path, and a missing file in an existing folder.
    """
    if home is not None and (path == "~" or path.startswith("~/")):
        path = home + path[1:]
    path = os.path.expanduser(path)
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path  # joined, never normalised: '..' must meet the disk
    if _PROC_FD:
        real = _kernel_real(path)
        if real is not None:
            return real
        parent, name = path.rsplit("/", 1)
        if name not in ("", ".", "..") and _missing_entry(path):
            # A plain missing name (not '..', not a dangling link) under an existing folder:
            # nothing after the folder can be a link, so the folder's real path + the name.
            folder = _kernel_real(parent or "/")
            if folder is not None:
                return folder.rstrip("/") + "/" + name
    return posixpath.realpath(path)


def _kernel_real(path: str) -> str | None:
    """The kernel's own resolution of an existing path: one open, one readlink."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    finally:
        os.close(fd)
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


_PROC_FD = hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd")


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
    if "//" in path or "/." in path or path.endswith("/"):
        path = lexical(path)  # only when needed: normpath is the costliest step of a lookup
        if path == "/":
            return ()
    return tuple(path.split("/")[1:])


def is_env_file(parts: tuple[str, ...]) -> bool:
    if not parts:
        return False
    name = parts[-1].lower()
    return name == ".env" or name.startswith(".env.")


class ProtectedPaths:
    """A trie of protected patterns, where ``*`` stands for exactly one component.

    ``check(parts)`` says whether a path is protected (equal to or under a pattern) and whether
    it is an ancestor of a protected location (moving or deleting it would take one along).
    """

    _END = "\x00end"  # NUL never appears in a component

    def __init__(self, patterns: tuple[tuple[str, ...], ...]) -> None:
        self._root: dict[str, dict] = {}
        for parts in patterns:
            node = self._root
            for part in parts:
                node = node.setdefault(part, {})
            node[self._END] = {}

    def check(self, parts: tuple[str, ...]) -> tuple[bool, bool]:
        """(protected, ancestor_of_protected)."""
        nodes = [self._root]
        for part in parts:
            following = []
            for node in nodes:
                if self._END in node:
                    return True, False
                for key in (part, "*"):
                    child = node.get(key)
                    if child is not None:
                        following.append(child)
            if not following:
                return False, False
            nodes = following
        if any(self._END in node for node in nodes):
            return True, False
        return False, any(nodes)  # a node with children lies above a pattern
