"""Session tools: git_init, git_set_working_dir, git_clear_working_dir, git_wrapup_instructions.

The working directory is this server process's state (one process per session); it is
resolved and contained like any path, and tools given no ``path`` use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from servers.git.checks import check_branch_name
from servers.git.context import GitContext, reply, tool
from servers.git.parse import LOG_FORMAT, parse_log
from servers.git.runner import Repo
from servers.git.schema import PATH, boolean, closed, enum, string
from servers.git.workspace import NotARepository
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["session_tools"]

_WRAPUP = """# Git wrap-up

Finish the session so that someone else can pick it up from the repository alone.

- [ ] Review the full diff (git_diff, with staged: true as well) before planning commits.
- [ ] Run the project's checks (tests, linters) on exactly the tree you will commit.
- [ ] Update the changelog and any documentation the change makes stale.
- [ ] Bump the version where the project declares it, if the project releases per change.
- [ ] Commit in small, atomic commits whose messages say what changed and why.{tag}
- [ ] Finish with git_status showing a clean working tree.

Constraints: do not push unless you were asked to; do not rewrite published history; never
bypass a failing check to get a commit in.
"""
_TAG = "\n- [ ] Tag the release (annotated, message summarising the real changes)."


def _init(ctx: GitContext, target: Path, bare: bool, branch: str | None) -> None:
    if os.path.lexists(target / ".git") or (target / "HEAD").is_file():
        # git init over an existing .git (a file or link naming another git directory) would
        # reinitialise that repository, wherever it is.
        raise ToolError(f"path: {target} is already a git repository (or holds a .git)")
    if bare and target.is_dir() and any(target.iterdir()):
        # A bare repository's files are the folder itself: what is already there is read by
        # git init as the repository's own (a 'commondir' made it write another repository's
        # config, objects and refs, a 'config' is applied as it creates the rest).
        raise ToolError(
            f"path: {target} is not empty; a bare repository is made only in a new or empty folder"
        )
    command = ["init", "--quiet", *(["--bare"] if bare else [])]
    command += [f"--initial-branch={check_branch_name(branch, 'initialBranch')}"] if branch else []
    ctx.git(Repo(target), *command, "--", str(target))


def git_init(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    target = ctx.workspace.resolve(args.get("path"))
    if target.exists() and not target.is_dir():
        raise ToolError(f"path: {target} exists and is not a directory")
    _init(ctx, target, bool(args.get("bare")), args.get("initialBranch"))
    return reply(
        {
            "path": str(target),
            "bare": bool(args.get("bare")),
            "initialBranch": ctx.current_branch(ctx.workspace.repo(str(target))),
        }
    )


def git_set_working_dir(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    directory = ctx.workspace.existing_dir(args["path"])
    snapshot: dict[str, Any] = {}
    if args.get("validateGitRepo", True):
        try:
            repo = ctx.workspace.repo(str(directory))
        except NotARepository:
            # Only for a folder in no repository: one the checks refused (a .git file naming a
            # git directory outside the base, say) is never initialised over.
            if not args.get("initializeIfNotPresent"):
                raise
            _init(ctx, directory, False, None)
            repo = ctx.workspace.repo(str(directory))
        snapshot = _snapshot(ctx, repo)
    ctx.workspace.set_working_dir(directory)
    return reply(
        {"path": str(directory), "message": f"Working directory set to {directory}", **snapshot}
    )


def _snapshot(ctx: GitContext, repo: Repo) -> dict[str, Any]:
    recent = []
    if ctx.head(repo) is not None:
        log = ctx.git(repo, "log", "-z", f"--format={LOG_FORMAT}", "--max-count=2")
        recent = [
            {k: c[k] for k in ("shortHash", "subject", "author", "timestamp")}
            for c in parse_log(log.stdout)
        ]
    remotes = ctx.git(repo, "remote").stdout.split()
    return {"repository": {"status": ctx.status(repo), "recentCommits": recent, "remotes": remotes}}


def git_clear_working_dir(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    previous = ctx.workspace.working_dir
    ctx.workspace.set_working_dir(None)
    return reply({"cleared": str(previous) if previous else None})


def git_wrapup_instructions(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    instructions = _WRAPUP.format(tag="" if args.get("createTag") is False else _TAG)
    data: dict[str, Any] = {"instructions": instructions}
    working = ctx.workspace.working_dir
    if working is None:
        data["gitStatusError"] = "No working directory set; call git_set_working_dir."
    else:
        try:
            data["gitStatus"] = ctx.status(ctx.workspace.repo(str(working)))
        except ToolError as exc:
            data["gitStatusError"] = str(exc)
    return reply(data)


def session_tools(ctx: GitContext) -> list[Tool]:
    return [
        tool(
            ctx,
            "git_init",
            "Create a new, empty repository.",
            closed(
                {
                    "path": PATH,
                    "initialBranch": string("Name of the first branch.", 255),
                    "bare": boolean("Create a bare repository."),
                }
            ),
            git_init,
        ),
        tool(
            ctx,
            "git_set_working_dir",
            "Set the directory later calls use when they omit "
            "path; returns a snapshot of the repository.",
            closed(
                {
                    "path": string("Repository directory."),
                    "validateGitRepo": boolean("Require a git repository (default true)."),
                    "initializeIfNotPresent": boolean("Run git init there if it is not one."),
                },
                ("path",),
            ),
            git_set_working_dir,
        ),
        tool(
            ctx,
            "git_clear_working_dir",
            "Forget the working directory set earlier.",
            closed({}),
            git_clear_working_dir,
        ),
        tool(
            ctx,
            "git_wrapup_instructions",
            "The checklist for finishing a session's git work, with the current status.",
            closed(
                {
                    "acknowledgement": enum(["Y", "y", "Yes", "yes"], "Say yes to start."),
                    "createTag": boolean("Include the tagging step (default true)."),
                },
                ("acknowledgement",),
            ),
            git_wrapup_instructions,
            read_only=True,
        ),
    ]
