"""Which directories the git server may touch, and which repository a path belongs to.

With ``--base-dir`` every directory a tool works in, every repository's git directory (through a
``.git`` file or symlink, a worktree's ``commondir``, object ``alternates``) and every local
remote stays inside it, compared by path components after resolving symlinks. The repository is
found here rather than by git's own discovery, so git never walks up out of the base directory
and always gets an explicit ``GIT_DIR`` and ``GIT_WORK_TREE``.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from servers.git.checks import shown
from servers.git.runner import Repo
from servers.git.trust import RepositoryRefused
from servers.wire.server import ToolError

__all__ = ["NotARepository", "Workspace", "within"]

_MAX_GITFILE = 4096
_ALTERNATES_DEPTH = 5
_PARTS = ("config", "config.worktree", "objects", "refs", "packed-refs", "HEAD", "info", "logs")
_PARTS += ("index", "shallow", "worktrees", "modules", "hooks", "commondir", "gitdir")


class NotARepository(ToolError):
    """The directory lies in no repository (as opposed to one the checks refused)."""


def within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it, by components (``/a/bc`` is not in ``/a/b``)."""
    return path == root or root in path.parents


class Workspace:
    """The base directory (if any) and the session's working directory."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base = Path(os.path.realpath(base_dir)) if base_dir is not None else None
        self._working: Path | None = None
        self._lock = threading.Lock()

    @property
    def working_dir(self) -> Path | None:
        with self._lock:
            return self._working

    def set_working_dir(self, directory: Path | None) -> None:
        with self._lock:
            self._working = directory

    def resolve(self, raw: str | None, field: str = "path") -> Path:
        """The real, contained path an argument names (it need not exist yet)."""
        if raw is not None and ("\x00" in raw or _unencodable(raw)):
            raise ToolError(f"{field}: {shown(raw)} contains a NUL byte or invalid text")
        start = self.working_dir or self.base
        if raw is None or raw == ".":
            if start is None:
                raise ToolError(
                    f"{field}: no path given and no working directory set "
                    "(call git_set_working_dir first)"
                )
            return start
        candidate = Path(os.path.expanduser(raw))
        if not candidate.is_absolute():
            if start is None:
                raise ToolError(
                    f"{field}: {shown(raw)} is relative and no working directory "
                    "is set (give an absolute path)"
                )
            candidate = start / candidate
        resolved = Path(os.path.realpath(candidate))
        self.contain(resolved, field, raw)
        return resolved

    def contain(self, resolved: Path, field: str, raw: str | None = None) -> None:
        if self.base is not None and not within(resolved, self.base):
            named = shown(raw) if raw is not None else str(resolved)
            raise ToolError(f"{field}: {named} is outside the allowed directory {self.base}")

    def existing_dir(self, raw: str | None, field: str = "path") -> Path:
        directory = self.resolve(raw, field)
        if not directory.is_dir():
            raise ToolError(f"{field}: {directory} is not an existing directory")
        return directory

    def repo(self, raw: str | None, field: str = "path") -> Repo:
        """The repository ``raw`` lies in, with git and work directories checked."""
        directory = self.existing_dir(raw, field)
        for candidate in (directory, *directory.parents):
            if self.base is not None and not within(candidate, self.base):
                break
            dotgit = candidate / ".git"
            if os.path.lexists(dotgit):
                git_dir = self._git_dir_of(dotgit, field)
                return self._checked(Repo(directory, git_dir, candidate), field)
            if candidate == directory and _looks_bare(candidate):
                return self._checked(Repo(directory, candidate, None), field)
        raise NotARepository(f"{field}: {directory} is not inside a git repository")

    def _git_dir_of(self, dotgit: Path, field: str) -> Path:
        if dotgit.is_dir():
            return Path(os.path.realpath(dotgit))
        text = _small_file(dotgit)  # only a regular file: a FIFO named .git would block us
        if text is None or not text.startswith("gitdir:"):
            raise ToolError(f"{field}: {dotgit} is neither a directory nor a 'gitdir:' file")
        target = Path(text.removeprefix("gitdir:").strip())
        return Path(os.path.realpath(dotgit.parent / target))

    def _checked(self, repo: Repo, field: str) -> Repo:
        git_dir = repo.git_dir
        if git_dir is None or not git_dir.is_dir():
            raise ToolError(f"{field}: {git_dir} is not a git directory")
        self.contain(git_dir, field, None)
        common = git_dir
        text = _small_file(git_dir / "commondir")
        if text:
            common = Path(os.path.realpath(git_dir / text))
            self.contain(common, field, None)
        if self.base is not None:
            self._check_parts(git_dir, common, field)
            self._check_alternates(common / "objects", field, _ALTERNATES_DEPTH)
        return Repo(repo.cwd, git_dir, repo.work_tree, common)

    def _check_parts(self, git_dir: Path, common: Path, field: str) -> None:
        # A git directory's parts may be symlinks (a cloned tree can carry a folder shaped like a
        # bare repository whose objects/ or refs/ link elsewhere): each must resolve inside too.
        for folder in dict.fromkeys((git_dir, common)):
            for name in _PARTS:
                part = folder / name
                if os.path.islink(part):
                    self.contain(Path(os.path.realpath(part)), f"{field} ({name})")

    def _check_alternates(self, objects: Path, field: str, depth: int) -> None:
        # git follows an alternate's own alternates too (to a depth of 5): so do we.
        text = _small_file(objects / "info" / "alternates")
        for line in (text or "").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith('"'):
                raise RepositoryRefused(
                    f"{field}: refused: a C-quoted object alternate in {objects}"
                )
            if depth == 0:
                raise ToolError(f"{field}: object alternates nest too deeply")
            target = Path(os.path.realpath(objects / line))
            self.contain(target, f"{field} (alternates)")
            self._check_alternates(target, field, depth - 1)


def _small_file(path: Path) -> str | None:
    """A regular file's whole text, or None (missing, a directory, a FIFO, ...).

    Read whole, never its start: git reads all of it, so a check of the first bytes could be
    shown one target while git follows another (a ``commondir`` padded with ``./``). A file
    over the cap is refused rather than cut."""
    try:
        # O_NONBLOCK: opening a FIFO swapped in after any check must not block a worker.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(_MAX_GITFILE + 1)
    if len(data) > _MAX_GITFILE:
        raise RepositoryRefused(
            f"refused: {path} is longer than {_MAX_GITFILE} bytes; git would follow all of it, "
            "so the server will not work with this repository (a human can inspect and "
            "shorten the file)"
        )
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RepositoryRefused(f"refused: {path} is not UTF-8 text") from None


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _looks_bare(directory: Path) -> bool:
    return (
        (directory / "HEAD").is_file()
        and (directory / "objects").is_dir()
        and (directory / "refs").is_dir()
    )
