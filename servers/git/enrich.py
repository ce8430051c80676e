"""What the chokepoint needs to know about a git call before the policy decides: the git
server's *judge* (JSON-RPC method ``ironcurtain/judge``, declared for this server in the host's
server table), run here in the confined server, never in the host.

The judge answers ``{"arguments": …, "judged": …}``. ``arguments`` is the call the server will
then run: the repository ``path``/``localPath`` made absolute against the server's working
directory (``git_set_working_dir``) or its base, so what the policy judged and what runs are the
same folder even if the working directory changes in between. ``judged`` is the copy the policy
judges:

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

import posixpath
import re
from typing import Any

from servers.git.checks import check_remote_name
from servers.git.context import GitContext
from servers.git.workspace import Workspace
from servers.wire.server import ToolError

__all__ = ["JUDGE_METHOD", "judge", "judged_arguments", "remote_urls"]

JUDGE_METHOD = "ironcurtain/judge"
# Arguments naming a repository folder, resolved like the server resolves them.
_FOLDER_ARGS = ("path", "localPath")

_REMOTE_TOOLS = frozenset({"git_push", "git_pull", "git_fetch"})
# Arguments holding paths relative to the directory the call names (git's pathspecs).
_PATHSPEC_ARGS = ("files", "paths", "filePath")
# Pathspec magic: ':(top,icase)x', ':/x', ':!x', ':^x'. Judged as the path it names.
# Revisions that may be written REV:path, naming a file whose content the tool shows.
_REVISION_ARGS = {"git_show": ("object",), "git_diff": ("source", "target")}
_MAGIC = re.compile(r"^:(?:\([^)]*\)|[/!^]+)")
UNKNOWN_REMOTES = "unknown-remotes"  # not a URL: no domain rule allows it


def judge(ctx: GitContext, takes_path: dict[str, bool], params: Any) -> dict[str, Any]:
    """The ``ironcurtain/judge`` request: ``{"tool", "arguments"}`` → ``{"arguments", "judged"}``.

    ``takes_path`` says which tools have a ``path`` argument (a missing one means the working
    directory). Unknown tools and malformed parameters are refused: the host then denies."""
    if not isinstance(params, dict) or not isinstance(params.get("arguments"), dict):
        raise ToolError("judge needs {tool, arguments}")
    tool = params.get("tool")
    if not isinstance(tool, str) or tool not in takes_path:
        raise ToolError(f"no git tool named {tool!r}")
    arguments = _anchored(ctx, dict(params["arguments"]), takes_path[tool])
    base = ctx.workspace.base
    judged = judged_arguments(tool, arguments, ctx=ctx, base_dir=str(base) if base else None)
    return {"arguments": arguments, "judged": judged}


def _anchored(ctx: GitContext, arguments: dict[str, Any], takes_path: bool) -> dict[str, Any]:
    base = ctx.workspace.working_dir or ctx.workspace.base
    if base is None:
        return arguments
    for key in _FOLDER_ARGS:
        value = arguments.get(key)
        if value is None and key == "path" and takes_path:
            arguments[key] = str(base)
        elif isinstance(value, str) and not value.startswith(("/", "~")):
            arguments[key] = posixpath.normpath(posixpath.join(str(base), value))
    return arguments


def remote_urls(
    ctx: GitContext, path: str, remote: str = "origin", *, push: bool = False
) -> list[str]:
    """The URLs ``git fetch`` (or, with ``push``, ``git push``) would use for ``remote``.

    ``path`` is the repository directory as the tool call names it (absolute, or relative to
    the server's base); it must lie inside the base when there is one.
    """
    repo = ctx.workspace.repo(path)
    name = check_remote_name(remote, "remote")
    command = ["remote", "get-url", "--all", *(["--push"] if push else []), name]
    out = ctx.git(repo, *command)
    return [url for url in out.stdout.splitlines() if url]


def all_remote_urls(ctx: GitContext, path: str) -> list[str]:
    """Every URL ``git fetch --all`` would contact."""
    repo = ctx.workspace.repo(path)
    names = ctx.git(repo, "remote").stdout.split()
    return [url for name in names for url in remote_urls(ctx, path, name)]


def judged_arguments(
    tool: str, arguments: dict[str, Any], *, ctx: GitContext, base_dir: str | None
) -> dict[str, Any]:
    """The arguments as the policy should judge them (see the module docstring).

    ``arguments["path"]`` is the repository directory, already made absolute (``judge``)."""
    judged = dict(arguments)
    if tool in _REMOTE_TOOLS:
        judged.update(_remotes(ctx, tool, arguments, base_dir))
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
            judged[key] = _object_path(arguments[key], folder, ctx.workspace)
    return judged


def _remotes(
    ctx: GitContext, tool: str, arguments: dict[str, Any], base_dir: str | None
) -> dict[str, Any]:
    path = arguments.get("path") or base_dir or "."
    try:
        if tool == "git_fetch" and arguments.get("all"):
            urls = all_remote_urls(ctx, path)
            return {"remote": urls or UNKNOWN_REMOTES}
        remote = arguments.get("remote") or "origin"
        if not isinstance(remote, str) or "://" in remote or remote.startswith("/"):
            return {}
        urls = remote_urls(ctx, path, remote, push=tool == "git_push")
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


def _object_path(value: str, folder: str, workspace: Workspace) -> str:
    """``REV:path`` -> the file under the work tree's top; a revision alone -> ``folder``."""
    if ":" not in value:
        return folder
    inner = value.split(":", 1)[1]
    if re.fullmatch(r"[0-3]:.*", inner):  # ':N:path', a stage of the index
        inner = inner[2:]
    top = folder
    if not inner.startswith("./") and not inner.startswith("../"):
        try:
            repo = workspace.repo(folder)
        except (ToolError, OSError):
            return posixpath.normpath(posixpath.join(folder, inner)) if inner else folder
        top = str(repo.work_tree or folder)
    return posixpath.normpath(posixpath.join(top, inner)) if inner else top
