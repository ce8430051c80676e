"""Race-free resolution of an agent's path to a directory fd and a name under an allowed root.

Why a component walk and not ``realpath`` + prefix check: a check on a path string is stale the
moment it returns; the agent (or anything else writing in the roots) can swap a checked directory
for a symlink before the open. Here every step is an ``openat`` with ``O_NOFOLLOW`` relative to a
directory fd we already hold, starting from the root's fd opened at start-up, so what we check is
what we use. Symlinks are never followed by the kernel: we read them (``readlinkat``) and resolve
their target again from the roots, so a symlink that stays inside the roots works, and one that
leaves them, dangles outside or loops is refused. Python has no ``openat2`` (RESOLVE_BENEATH)
wrapper, so the walk is done here; it costs one ``openat`` per component.

Containment is by components: ``/srv/root2`` is not inside ``/srv/root``. A ``..`` in the agent's
path is refused outright (never guessed at). Inside a symlink's target it is applied only at the
start of the target, to the already-resolved, symlink-free prefix (what the kernel does too); a
``..`` after one of the target's own names is refused, since that name may be another symlink and
the kernel (and the policy, which resolves paths with the kernel) would go up from where it
leads, not from its folder. The result is walked again from the roots, so nothing leaves them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from dataclasses import dataclass

from servers.wire.server import ToolError

__all__ = ["DIR_FLAGS", "Location", "Root", "Roots", "reason", "shown"]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_PATH_CHARS = 4096
MAX_SYMLINK_HOPS = 40
_WINDOWS = re.compile(r"^(?:[A-Za-z]:|\\\\|//\?/)|\\")


def shown(text: str) -> str:
    """``text`` made safe for JSON output (undecodable names and lone surrogates become U+FFFD)."""
    return os.fsencode(text).decode("utf-8", "replace") if _needs_fix(text) else text


def _needs_fix(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True)
class Root:
    display: str  # the real path, as listed to the agent
    aliases: tuple[tuple[str, ...], ...]  # components of the real path and of the path as given
    fd: int  # opened once at start-up: renaming or replacing the path later changes nothing

    @classmethod
    def open(cls, given: str) -> Root:
        absolute = os.path.abspath(os.path.expanduser(given))
        real = os.path.realpath(absolute)
        fd = os.open(real, DIR_FLAGS)
        names = {_components(real), _components(absolute)}
        return cls(real, tuple(sorted(names, key=len, reverse=True)), fd)


@dataclass
class Location:
    """Where a path lands: an open fd on its parent directory and the final name.

    ``name`` is None when the path is a root itself (then ``dir_fd`` is that root).
    ``lstat`` is the final entry's no-follow stat at resolution time, or None if it is missing.
    Use it as a context manager: the fd is closed on exit.
    """

    root: Root
    dir_fd: int
    name: str | None
    lstat: os.stat_result | None
    path: str

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.dir_fd)

    def open_dir(self) -> int:
        if self.name is None:
            return os.dup(self.dir_fd)
        try:
            return os.open(self.name, DIR_FLAGS, dir_fd=self.dir_fd)
        except OSError as exc:
            why = "not a directory" if exc.errno in (errno.ENOTDIR, errno.ELOOP) else reason(exc)
            raise ToolError(f"{shown(self.path)}: {why}") from None


class Roots:
    """The allowed directories given on the command line; nothing the client says widens them."""

    def __init__(self, given: list[str]) -> None:
        self.roots = [Root.open(g) for g in given]

    def listing(self) -> list[str]:
        return [root.display for root in self.roots]

    def locate(
        self, raw: object, *, follow_final: bool = True, make_dirs: bool = False
    ) -> Location:
        """Resolve an agent's path; raise ToolError if it is malformed or leaves the roots."""
        root, rel = self._find_root(self._parse(raw), raw, False)
        for _hop in range(MAX_SYMLINK_HOPS):
            found = _walk(root, rel, follow_final, make_dirs)
            if isinstance(found, Location):
                _refuse_env_file(found, raw)
                return found
            rel = self._same_root(root, found, raw)
        raise ToolError(f"{shown(str(raw))}: too many levels of symbolic links (a loop?)")

    def _parse(self, raw: object) -> tuple[str, ...]:
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("path must be a non-empty string")
        if "\x00" in raw:
            raise ToolError("path contains a NUL byte")
        if len(raw) > MAX_PATH_CHARS:
            raise ToolError(f"path is longer than {MAX_PATH_CHARS} characters")
        if raw.lower().startswith("file:"):
            raise ToolError(f"{shown(raw)}: give a plain path, not a file: URI")
        if _WINDOWS.search(raw):
            raise ToolError(f"{shown(raw)}: Windows-style paths and backslashes are not accepted")
        path = raw
        if path == "~" or path.startswith("~/"):
            path = os.path.expanduser("~") + path[1:]
        elif path.startswith("~"):
            raise ToolError(f"{shown(raw)}: '~user' paths are not accepted")
        if not path.startswith("/"):
            path = self.roots[0].display + "/" + path
        parts = _components(path)
        if ".." in parts:
            raise ToolError(f"{shown(raw)}: '..' is not allowed in paths")
        return parts

    def _same_root(self, root: Root, parts: tuple[str, ...], raw: object) -> tuple[str, ...]:
        """``parts`` (where a symlink under ``root`` leads) relative to that same root.

        A symlink never leads from one allowed directory into another: the policy judged the
        path where it led when the policy looked, and a link swapped in since (a folder renamed
        over another by a concurrent call) must not carry the call into a directory the policy
        treats differently (the sandbox's writes are allowed, another root's are asked)."""
        for alias in root.aliases:
            if parts[: len(alias)] == alias:
                return parts[len(alias) :]
        self._find_root(parts, raw, True)  # outside every root: that refusal
        raise ToolError(
            f"Access denied: {shown(str(raw))} leads through a symbolic link from "
            f"{shown(root.display)} into another allowed directory; name the target directly"
        )

    def _find_root(
        self, parts: tuple[str, ...], raw: object, via_link: bool
    ) -> tuple[Root, tuple[str, ...]]:
        best: tuple[Root, tuple[str, ...]] | None = None
        for root in self.roots:
            for alias in root.aliases:
                if parts[: len(alias)] == alias and (best is None or len(alias) > len(best[1])):
                    best = (root, alias)
        if best is None:
            allowed = ", ".join(self.listing())
            how = "leads through a symbolic link" if via_link else "is"
            raise ToolError(
                f"Access denied: {shown(str(raw))} {how} outside the allowed directories "
                f"({allowed})"
            )
        return best[0], parts[len(best[1]) :]


def _refuse_env_file(loc: Location, raw: object) -> None:
    """Refuse a path that lands on a ``.env`` file (``.env``, ``.env.*``, any case), however it
    got there: the policy denies them by name, but judges a path where it led when it looked,
    and a symlink swapped in since can end on one. The same names as the policy's
    ``is_env_file``; a second line, like the git server's pathspec check."""
    name = (loc.name if loc.name is not None else loc.path.rsplit("/", 1)[-1]).lower()
    if name == ".env" or name.startswith(".env."):
        os.close(loc.dir_fd)
        raise ToolError(f"{shown(str(raw))}: leads to a .env file, which is never accessible")


def _components(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p and p != ".")


def _walk(
    root: Root, rel: tuple[str, ...], follow_final: bool, make_dirs: bool
) -> Location | tuple[str, ...]:
    """Open each directory of ``rel`` with no-follow from the root; a symlink returns a new path."""
    directories = rel if make_dirs else rel[:-1]
    fd = os.dup(root.fd)
    try:
        for i, name in enumerate(directories):
            opened = _open_dir_step(fd, name, make_dirs)
            if isinstance(opened, str):
                return _redirect(root, rel[:i], opened, rel[i + 1 :])
            os.close(fd)
            fd = opened
        path = _display(root, rel)
        if make_dirs or not rel:
            location = Location(root, fd, None, None, path)
        else:
            st = _lstat(fd, rel[-1])
            if st is not None and follow_final and stat.S_ISLNK(st.st_mode):
                return _redirect(root, rel[:-1], os.readlink(rel[-1], dir_fd=fd), ())
            location = Location(root, fd, rel[-1], st, path)
        fd = -1  # owned by the Location now
        return location
    except OSError as exc:
        raise ToolError(f"{shown(_display(root, rel))}: {reason(exc)}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _display(root: Root, rel: tuple[str, ...]) -> str:
    return "/".join((root.display.rstrip("/"), *rel)) if rel else root.display


def _open_dir_step(fd: int, name: str, make_dirs: bool) -> int | str:
    """The fd of directory ``name`` in ``fd``, or the target text if ``name`` is a symlink."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if not make_dirs:
            raise
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        try:
            return os.readlink(name, dir_fd=fd)
        except OSError:
            raise exc from None
    if os.fstat(fd).st_mode & 0o222 == 0:  # checked ourselves: root would pass the kernel's
        raise ToolError(f"cannot create {shown(name)!r}: the directory is read-only")
    with contextlib.suppress(FileExistsError):  # made concurrently: the open below decides
        os.mkdir(name, 0o777, dir_fd=fd)
    return os.open(name, DIR_FLAGS, dir_fd=fd)


def _redirect(root: Root, prefix: tuple[str, ...], target: str, rest: tuple[str, ...]):
    """The absolute components a symlink leads to; ``..`` applies to the symlink-free prefix."""
    if not target:
        raise ToolError("empty symbolic link")
    base = [] if target.startswith("/") else [*_components(root.display), *prefix]
    named = False  # a name of the target's own came before: it may itself be a symlink
    for part in (*target.split("/"), *rest):
        if part == "..":
            if named:  # the kernel goes up from where that name leads, not from its folder
                raise ToolError(
                    "refused, a symbolic link's target has '..' after a name (a '..' is "
                    "only followed at the start of a target)"
                )
            if base:
                base.pop()
        elif part and part != ".":
            base.append(part)
            named = True
    return tuple(base)


def _lstat(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return None


def reason(exc: OSError) -> str:
    """A short, fixed description of an OS error for the agent (no internals)."""
    messages = {
        errno.ENOENT: "no such file or directory",
        errno.ENOTDIR: "not a directory",
        errno.ELOOP: "is a symbolic link",
        errno.ENAMETOOLONG: "name too long",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EEXIST: "already exists",
        errno.ENOTEMPTY: "directory not empty",
        errno.EXDEV: "cannot move across file systems",
        errno.EISDIR: "is a directory",
        errno.ENOSPC: "no space left on device",
        errno.EROFS: "read-only file system",
        errno.EINVAL: "invalid request (a directory moved into itself?)",
    }
    return messages.get(exc.errno or 0, exc.strerror or "operating system error")
