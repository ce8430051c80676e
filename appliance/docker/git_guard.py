"""The workspace's git metadata in a Docker session: read-only if it was there, quarantined if new.

The agent controls every byte it writes in its workspace. Git metadata there is configuration and
code to the user's own git on the host (and to an IDE that runs `git status` all day):
`core.fsmonitor`, hooks, `core.hooksPath`, filters, `core.pager`, a `commondir` or `gitdir:`
redirect. So (allowlist shape: only what existed before the agent ran may stay metadata):

- at the start (`take_baseline`) every piece of git metadata in the workspace is found
  (`git_metadata.scan`, bounded) and mounted **read-only** into the container at its own path:
  `.git` folders, `.git` files (and their `gitdir:` targets inside the workspace, or a `.git`
  symlink's target there), git-directory-shaped folders. A workspace that is itself, or sits
  inside, a git directory is refused; so is one too large to scan or with more than
  `MAX_READ_ONLY` repositories;
- paths those repositories' config names as code or config inside the workspace (a
  `core.hooksPath` folder, an included file, a pager script: `git_config_paths.py`) are mounted
  read-only too when they exist, and watched: replaced or created, they are renamed like new
  metadata;
- anything else that looks like git metadata when the agent has had the folder — a `git init`,
  a nested `.git`, a `.git` file or symlink, a bare-repository-shaped folder, an original moved
  elsewhere — is renamed to a name git ignores, reported and audited: the moment it appears
  (`git_watch.GitWatch` watches every folder: `git_events.py`), by `sweep` at every poll of
  `GitWatch` (the backstop, and all there is where the watch is degraded), and once more after the
  container is gone (or, when the session's process was killed, at the next start:
  `save_pending`, `sweep_left_behind`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from appliance.docker import git_metadata
from appliance.docker.git_config_paths import named_paths
from appliance.docker.git_metadata import (
    DOT_GIT,
    GIT_DIR_SHAPED,
    GONE,
    Found,
    identity_at,
    is_dot_git,
    is_git_dir_shaped,
    quarantine,
    quarantine_named,
    scan,
)
from appliance.errors import ApplianceError

__all__ = [
    "MAX_READ_ONLY", "PENDING_FILE", "Baseline", "Sweep", "WorkspaceHasGit",
    "quarantine_suffix", "report", "save_pending", "sweep_left_behind", "take_baseline",
]  # fmt: skip

MAX_READ_ONLY = 64  # read-only mounts of repositories found at the start
MAX_LISTED = 100  # renamed pieces named on the terminal and in one audit record (all counted)
NAMED = "named-by-config"  # a path the repository's config names as code or config
_GITDIR_FILE_BYTES = 4096


class WorkspaceHasGit(ApplianceError, ValueError):
    """The workspace's git metadata cannot be protected (operator error: says why)."""


def quarantine_suffix(session_id: str) -> str:
    """`.ironcurtain-quarantined-<session>`: says what happened and which session it was."""
    return ".ironcurtain-quarantined-" + re.sub(r"[^A-Za-z0-9_-]", "_", session_id)[:64]


def _key(found: Found) -> tuple:
    return found.parts, found.kind, found.identity


@dataclass(frozen=True)
class Sweep:
    """What one sweep renamed: (found, new name or "error: ..."), and whether it saw everything."""

    renamed: tuple[tuple[Found, str], ...]
    complete: bool

    def lines(self) -> list[str]:
        shown = [f"{f.relative} ({_what(f)}) -> {o}" for f, o in self.renamed[:MAX_LISTED]]
        more = len(self.renamed) - len(shown)
        return shown + ([f"... and {more} more (the audit log counts them)"] if more else [])

    def record(self, when: str) -> dict:
        items = [{"path": f.relative, "kind": f.kind, "fileType": f.file_type, "outcome": o}
                 for f, o in self.renamed[:MAX_LISTED]]  # fmt: skip
        return {"type": "git-quarantine", "when": when, "items": items,
                "count": len(self.renamed), "complete": self.complete}  # fmt: skip


@dataclass(frozen=True)
class Baseline:
    """The workspace's git metadata when the session started, and what to mount read-only."""

    workspace: Path
    originals: frozenset[tuple]
    read_only: tuple[Path, ...]
    # Paths the original repositories' config names as code or config (git_config_paths.py),
    # below the workspace, with what was there at the start (None: nothing).
    named: tuple[tuple[tuple[str, ...], tuple[int, ...] | None], ...] = ()

    def is_original(self, found: Found) -> bool:
        return _key(found) in self.originals

    def sweep(
        self, suffix: str, *, final: bool = False, lock: AbstractContextManager | None = None
    ) -> Sweep:
        """Rename every piece of git metadata that is not an unchanged original. `final`: the
        agent is gone, so folders it made unreadable may be opened up (`scan`'s `repair`).
        `lock`: held while renaming (the watch renames too: `git_events.py`); what is gone by
        then (renamed by the watch, deleted) is not reported."""
        # The last sweep walks everything: the agent could have grown the workspace past the
        # limit (2,000,000 entries: about 2 minutes of `touch`) to hide a repository behind it.
        limit = None if final else git_metadata.MAX_STEPS
        result = scan(self.workspace, descend=lambda f: not self.is_original(f), repair=final,
                      max_steps=limit)  # fmt: skip
        new = [found for found in result.found if not self.is_original(found)]
        with lock or contextlib.nullcontext():
            renamed = quarantine(self.workspace, new, suffix) + self.rename_named(suffix)
        return Sweep(tuple(item for item in renamed if item[1] != GONE), result.complete)

    def rename_named(self, suffix: str, under: tuple[str, ...] = ()) -> list[tuple[Found, str]]:
        """Rename each path the original repositories' config names (below `under`) that is
        not what was there at the start."""
        renamed = []
        for parts, identity in self.named:
            if parts[: len(under)] != under:
                continue
            changed = quarantine_named(self.workspace, parts, identity, suffix)
            if changed is not None:
                renamed.append((Found(tuple(changed[0].split("/")), NAMED, "any", (0, 0)),
                                changed[1]))  # fmt: skip
        return renamed


def take_baseline(workspace: Path) -> Baseline:
    """Find the workspace's git metadata before the agent runs; `WorkspaceHasGit` if it cannot
    be protected."""
    _refuse_inside_git_dir(workspace)
    result = scan(workspace)
    if not result.complete:
        raise WorkspaceHasGit(f"the workspace {workspace} cannot be fully checked for git "
                              "repositories (too large, or a folder in it you cannot read); "
                              "use a smaller folder")  # fmt: skip
    read_only: list[Path] = []
    for found in result.found:
        read_only += _protect(workspace, found)
    named = _named(workspace, result.found)
    # Plain folders and files only (identity without a change time): the engine would mount a
    # link's target, which may be outside the workspace; a link is watched instead.
    read_only += [workspace.joinpath(*parts) for parts, ident in named if ident and len(ident) == 2]
    folders = _outermost(read_only)
    if len(folders) > MAX_READ_ONLY:
        raise WorkspaceHasGit(f"the workspace {workspace} needs {len(folders)} read-only mounts "
                              f"for its git repositories (at most {MAX_READ_ONLY}); use a "
                              "smaller folder")  # fmt: skip
    return Baseline(workspace, frozenset(map(_key, result.found)), tuple(folders), named)


def _named(workspace: Path, found: tuple[Found, ...]) -> tuple:
    """What the original repositories' config files name inside the workspace, with its
    identity now; a name reached through a link or a file in the workspace is refused (the
    agent could swap that link)."""
    named: dict[tuple[str, ...], tuple[int, ...] | None] = {}
    for gitdir, worktree in [*_git_dirs(workspace, found), *_enclosing(workspace)]:
        for config in [*_config_files(gitdir), *_user_configs()]:
            for path in named_paths(config, worktree):
                if path.parts[: len(workspace.parts)] != workspace.parts or path == workspace:
                    continue
                parts = path.parts[len(workspace.parts) :]
                try:
                    named[parts] = identity_at(workspace, parts)
                except NotADirectoryError:
                    raise WorkspaceHasGit(
                        f"the git config {config} names {path}, reached through a link or "
                        "file in the workspace that the agent could replace; use a plain path"
                    ) from None
    return tuple(named.items())


def _git_dirs(workspace: Path, found: tuple[Found, ...]) -> list[tuple[Path, Path]]:
    """(git directory, working tree) of each original repository."""
    pairs = []
    for item in found:
        path, worktree = workspace.joinpath(*item.parts), workspace.joinpath(*item.parts[:-1])
        if item.file_type == "file":
            path = _gitdir_target(path)
        elif item.file_type == "symlink":
            path = Path(os.path.realpath(path))
        if item.file_type != "other" and path.is_dir():
            pairs.append((path, worktree))
    return list(dict.fromkeys(pairs))


def _enclosing(workspace: Path) -> list[tuple[Path, Path]]:
    """(git directory, working tree) of the repository the workspace sits in, if any: the first
    `.git` above it, as git finds it. Its config may name a path inside the workspace (husky in a
    monorepo's `frontend/` sets `core.hooksPath = frontend/.husky/_`)."""
    for folder in workspace.parents:
        dot_git = folder / ".git"
        if not os.path.lexists(dot_git):
            continue
        if dot_git.is_symlink():
            gitdir = Path(os.path.realpath(dot_git))
        elif dot_git.is_file():
            gitdir = _gitdir_target(dot_git)
        else:
            gitdir = dot_git
        return [(gitdir, folder)] if gitdir.is_dir() else []
    return []


def _user_configs() -> list[Path]:
    """The user's and the system's git config: a relative `core.hooksPath = .githooks` there
    names a folder in every repository's working tree."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.home() / ".gitconfig", Path(xdg) / "git" / "config", Path("/etc/gitconfig")]


def _config_files(gitdir: Path) -> list[Path]:
    files = [gitdir / "config", gitdir / "config.worktree"]
    try:
        with open(gitdir / "commondir", "rb") as common:
            text = common.read(_GITDIR_FILE_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    if text:
        files.append(Path(os.path.normpath(gitdir / text)) / "config")
    return files


def _refuse_inside_git_dir(workspace: Path) -> None:
    """A workspace inside a `.git` folder (its hooks!) or a bare repository is refused."""
    for folder in (workspace, *workspace.parents):
        if folder == folder.parent:
            break
        if is_dot_git(folder.name) or is_git_dir_shaped(folder):
            raise WorkspaceHasGit(f"the workspace {workspace} is inside the git directory "
                                  f"{folder}; use the working tree instead")  # fmt: skip


def _protect(workspace: Path, found: Found) -> list[Path]:
    """The host paths to mount read-only for one original piece of metadata."""
    path = workspace.joinpath(*found.parts)
    if found.file_type == "directory":
        return [path]
    if found.kind == DOT_GIT and found.file_type == "symlink":
        return _inside(workspace, Path(os.path.realpath(path)))
    if found.kind == DOT_GIT and found.file_type == "file":
        return [path, *_inside(workspace, _gitdir_target(path))]
    return []


def _gitdir_target(dot_git_file: Path) -> Path:
    """Where a `gitdir: <path>` file points (relative to its own folder), links resolved."""
    try:
        fd = os.open(dot_git_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            text = os.read(fd, _GITDIR_FILE_BYTES).decode("utf-8", "replace")
        finally:
            os.close(fd)
    except OSError:
        return dot_git_file  # unreadable: git cannot follow it either; the file is read-only
    match = re.match(r"gitdir: *(.+?)\s*$", text.splitlines()[0] if text else "")
    if match is None:
        return dot_git_file  # git would refuse it too; the file itself is mounted read-only
    return Path(os.path.realpath(dot_git_file.parent / match[1]))


def _inside(workspace: Path, target: Path) -> list[Path]:
    """`target` when it is a folder inside the workspace (outside, the container cannot see it)."""
    if target.parts[: len(workspace.parts)] == workspace.parts and target.is_dir():
        return [target]
    return []


def _outermost(paths: list[Path]) -> list[Path]:
    """Each path once, none inside another (the outer mount covers it)."""
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path.parts[: len(k.parts)] == k.parts for k in kept):
            kept.append(path)
    return kept


def _what(found: Found) -> str:
    if found.kind == NAMED:
        return "named by your repository's git config, and changed by the agent"
    if found.kind == GIT_DIR_SHAPED:
        return "a folder shaped like a git directory: its HEAD renamed"
    return f"a .git {found.file_type}"


def report(
    sweep: Sweep, when: str, audit: Callable[[dict], object] | None, *, warn: bool = True
) -> None:
    """Tell the operator what was quarantined and why; write the audit record. `warn`: say
    so when the sweep was incomplete (the watch says it once, not at every sweep)."""
    if not sweep.renamed and (sweep.complete or not warn):
        return
    if sweep.renamed:
        print("ironcurtain: git metadata the agent made in its workspace was quarantined "
              f"({when}): your git would have run its config and hooks as you. Renamed:\n  "
              + "\n  ".join(sweep.lines()), file=sys.stderr, flush=True)  # fmt: skip
    failed = any(outcome.startswith("error") for _, outcome in sweep.renamed)
    if failed or (warn and not sweep.complete):
        print("ironcurtain: WARNING: not all git metadata in the workspace could be checked or "
              "quarantined (see above); do not run git or open an IDE in it before you have "
              "looked", file=sys.stderr, flush=True)  # fmt: skip
    if audit is not None:  # last: a broken audit log (which stops the session) hides nothing
        audit(sweep.record(when))


PENDING_FILE = "git-guard.json"  # in the session's folder, out of the agent's reach


def save_pending(baseline: Baseline, folder: Path, session_id: str) -> Path:
    """What the last sweep needs, written before the agent starts: a session killed with
    SIGKILL never runs its last sweep, and the next start runs it from this file."""
    data = {"pid": os.getpid(), "session": session_id, "workspace": str(baseline.workspace),
            "originals": [[list(parts), kind, list(identity)]
                          for parts, kind, identity in baseline.originals],
            "named": [[list(parts), identity] for parts, identity in baseline.named]}  # fmt: skip
    path = folder / PENDING_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)
    return path


def sweep_left_behind(sessions: Path, alive: Callable[[int], bool]) -> None:
    """The last sweep of every session whose process died before running it (SIGKILL, a host
    crash): reported on the terminal, its file removed."""
    for pending in sorted(sessions.glob(f"*/{PENDING_FILE}")):
        try:
            data = json.loads(pending.read_bytes()[: 64 << 20])
            if alive(int(data["pid"])):
                continue
            baseline = Baseline(
                Path(data["workspace"]),
                frozenset((tuple(p), k, tuple(i)) for p, k, i in data["originals"]),
                (),
                tuple((tuple(p), tuple(i) if i else None) for p, i in data["named"]),
            )
            suffix = quarantine_suffix(str(data["session"]))
            report(baseline.sweep(suffix, final=True),
                   f"left by session {data['session']}, which ended abnormally", None)  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"ironcurtain: cannot finish the git sweep of {pending.parent.name}: {exc}; "
                  "check its workspace for .git folders before running git there",
                  file=sys.stderr)  # fmt: skip
        pending.unlink(missing_ok=True)
