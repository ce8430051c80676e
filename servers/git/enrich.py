"""What the chokepoint needs to know about a git call before the policy decides.

The policy judges a copy of the call's arguments (the server still gets the agent's own):

- remote URLs: ``git_fetch``, ``git_pull`` and ``git_push`` name a remote, not a URL; the
  ``git-remote-url`` role needs every URL git will actually contact. ``git_fetch all: true``
  contacts every remote, so every remote's URL is judged. The URLs come from the same hardened
  runner and containment as the server's, so a repository the server refuses is refused here
  too, and the host never spawns git any other way.
- git's file arguments as paths: pathspecs (``files``, ``paths``, ``filePath``) and the path of
  a ``REV:path`` object are relative to the repository; they become absolute paths under it, so
  the engine's protected-path check (``.env``, the appliance's own files) and its sandbox check
  see the file git will read or write. A revision alone stands for the repository itself.

Any problem finding URLs raises :class:`ToolError` (:func:`remote_urls`) or leaves a value
that no rule allows (:func:`judged_arguments`): the caller denies, never guesses.
"""

from __future__ import annotations

import functools
import posixpath
import re
from pathlib import Path
from typing import Any

from servers.git.checks import check_remote_name
from servers.git.runner import GitRunner
from servers.git.workspace import Workspace
from servers.wire.server import ToolError

__all__ = ["judged_arguments", "remote_urls"]

_REMOTE_TOOLS = frozenset({"git_push", "git_pull", "git_fetch"})
# Arguments holding paths relative to the directory the call names (git's pathspecs).
_PATHSPEC_ARGS = ("files", "paths", "filePath")
# Pathspec magic: ':(top,icase)x', ':/x', ':!x', ':^x'. Judged as the path it names.
# Revisions that may be written REV:path, naming a file whose content the tool shows.
_REVISION_ARGS = {"git_show": ("object",), "git_diff": ("source", "target")}
_MAGIC = re.compile(r"^:(?:\([^)]*\)|[/!^]+)")
UNKNOWN_REMOTES = "unknown-remotes"  # not a URL: no domain rule allows it


@functools.cache
def _runner() -> GitRunner:
    return GitRunner(timeout=10.0, max_output=64 * 1024)


def remote_urls(
    path: str, remote: str = "origin", *, push: bool = False, base_dir: str | Path | None = None
) -> list[str]:
    """The URLs ``git fetch`` (or, with ``push``, ``git push``) would use for ``remote``.

    ``path`` is the repository directory as the tool call names it (absolute, or relative to
    ``base_dir``); it must lie inside ``base_dir`` when one is given.
    """
    workspace = Workspace(Path(base_dir) if base_dir is not None else None)
    repo = workspace.repo(path)
    name = check_remote_name(remote, "remote")
    command = ["remote", "get-url", "--all", *(["--push"] if push else []), name]
    out = _runner().run(repo, command)
    return [url for url in out.stdout.splitlines() if url]


def all_remote_urls(path: str, *, base_dir: str | Path | None = None) -> list[str]:
    """Every URL ``git fetch --all`` would contact."""
    workspace = Workspace(Path(base_dir) if base_dir is not None else None)
    repo = workspace.repo(path)
    names = _runner().run(repo, ["remote"]).stdout.split()
    return [url for name in names for url in remote_urls(path, name, base_dir=base_dir)]


def judged_arguments(
    tool: str, arguments: dict[str, Any], *, base_dir: str | None
) -> dict[str, Any]:
    """The arguments as the policy should judge them (see the module docstring).

    ``arguments["path"]`` is the repository directory, already made absolute by the caller
    when it can be. Does I/O (git, the disk): call it off the event loop."""
    judged = dict(arguments)
    if tool in _REMOTE_TOOLS:
        judged.update(_remotes(tool, arguments, base_dir))
    folder = arguments.get("path")
    if not isinstance(folder, str) or not folder.startswith("/"):
        return judged
    for key in _PATHSPEC_ARGS:
        value = arguments.get(key)
        if isinstance(value, str):
            judged[key] = _under(folder, value)
        elif isinstance(value, list):
            judged[key] = [_under(folder, v) if isinstance(v, str) else v for v in value]
    for key in _REVISION_ARGS.get(tool, ()):
        if isinstance(arguments.get(key), str):
            judged[key] = _object_path(arguments[key], folder, base_dir)
    return judged


def _remotes(tool: str, arguments: dict[str, Any], base_dir: str | None) -> dict[str, Any]:
    path = arguments.get("path") or base_dir or "."
    try:
        if tool == "git_fetch" and arguments.get("all"):
            urls = all_remote_urls(path, base_dir=base_dir)
            return {"remote": urls or UNKNOWN_REMOTES}
        remote = arguments.get("remote") or "origin"
        if not isinstance(remote, str) or "://" in remote or remote.startswith("/"):
            return {}
        urls = remote_urls(path, remote, push=tool == "git_push", base_dir=base_dir)
    except (ToolError, OSError, ValueError):
        return {"remote": UNKNOWN_REMOTES} if arguments.get("all") else {}
    if not urls:
        return {}
    return {"remote": urls[0] if len(urls) == 1 else urls}


def _under(folder: str, value: str) -> str:
    bare = _MAGIC.sub("", value)
    if value.startswith(":/") or value.startswith(":(top"):
        bare = bare.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, bare)) if bare else folder


def _object_path(value: str, folder: str, base_dir: str | None) -> str:
    """``REV:path`` -> the file under the work tree's top; a revision alone -> ``folder``."""
    if ":" not in value:
        return folder
    inner = value.split(":", 1)[1]
    if re.fullmatch(r"[0-3]:.*", inner):  # ':N:path', a stage of the index
        inner = inner[2:]
    top = folder
    if not inner.startswith("./") and not inner.startswith("../"):
        try:
            repo = Workspace(Path(base_dir) if base_dir is not None else None).repo(folder)
        except (ToolError, OSError):
            return posixpath.normpath(posixpath.join(folder, inner)) if inner else folder
        top = str(repo.work_tree or folder)
    return posixpath.normpath(posixpath.join(top, inner)) if inner else top
