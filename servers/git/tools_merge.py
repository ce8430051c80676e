"""Tools that replay or join history: git_merge, git_rebase, git_cherry_pick.

A conflict is a result, not an error: the tool answers ``conflicts: true`` with the conflicted
files and leaves the operation in progress for the agent to resolve, continue or abort.
"""

from __future__ import annotations

from typing import Any

from servers.git.checks import check_message, check_revision
from servers.git.context import GitContext, reply, tool
from servers.git.runner import GitOutput, Repo
from servers.git.schema import PATH, boolean, closed, enum, integer, string
from servers.git.sequencer import STRATEGIES, check_resumable
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["merge_tools"]

_STRATEGIES = list(STRATEGIES)


def _outcome(ctx: GitContext, repo: Repo, out: GitOutput, **extra: Any) -> ToolResult:
    status = ctx.status(repo)
    conflicted = status["conflictedFiles"]
    return reply(
        {
            "success": out.code == 0,
            "conflicts": bool(conflicted),
            "conflictedFiles": conflicted,
            "head": status["commit"],
            "output": (out.stdout + out.stderr).strip()[-4000:],
            **extra,
            "status": status,
        }
    )


def git_merge(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    if args.get("abort"):
        return _outcome(ctx, repo, ctx.git(repo, "merge", "--abort"), aborted=True)
    branch = check_revision(args["branch"], "branch") if "branch" in args else None
    if branch is None:
        raise ToolError("git_merge needs branch (or abort: true)")
    command = ["merge", "--no-edit"]
    command += ["--no-ff"] if args.get("noFastForward") else []
    command += ["--squash"] if args.get("squash") else []
    command += [f"--strategy={args['strategy']}"] if "strategy" in args else []
    if "message" in args:
        command.append(f"--message={check_message(args['message'])}")
    out = ctx.git(repo, *command, "--end-of-options", branch, ok=(0, 1))
    if out.code != 0 and not ctx.status(repo)["conflictedFiles"]:
        raise ToolError(f"git merge failed: {(out.stderr or out.stdout).strip()[-2000:]}")
    return _outcome(ctx, repo, out, fastForward="Fast-forward" in out.stdout)


def git_rebase(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args.get("mode", "start")
    if mode != "start":
        if mode in ("continue", "skip"):
            check_resumable(ctx, repo)
        return _outcome(ctx, repo, ctx.git(repo, "rebase", f"--{mode}", ok=(0, 1)))
    if "upstream" not in args:
        raise ToolError("git_rebase mode start needs upstream")
    command = ["rebase"]
    if "onto" in args:
        command.append(f"--onto={check_revision(args['onto'], 'onto')}")
    command.append(check_revision(args["upstream"], "upstream"))
    if "branch" in args:
        command.append(check_revision(args["branch"], "branch"))
    out = ctx.git(repo, *command, ok=(0, 1))
    if out.code != 0 and not ctx.status(repo)["conflictedFiles"]:
        raise ToolError(f"git rebase failed: {(out.stderr or out.stdout).strip()[-2000:]}")
    return _outcome(ctx, repo, out)


def git_cherry_pick(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    if args.get("abort"):
        return _outcome(ctx, repo, ctx.git(repo, "cherry-pick", "--abort"), aborted=True)
    if args.get("continueOperation"):
        check_resumable(ctx, repo)
        return _outcome(ctx, repo, ctx.git(repo, "cherry-pick", "--continue", ok=(0, 1)))
    commits = [check_revision(c, "commits[]") for c in args.get("commits", [])]
    if not commits:
        raise ToolError("git_cherry_pick needs commits (or abort / continueOperation)")
    command = ["cherry-pick"]
    command += ["--no-commit"] if args.get("noCommit") else []
    command += [f"--mainline={args['mainline']}"] if "mainline" in args else []
    command += [f"--strategy={args['strategy']}"] if "strategy" in args else []
    out = ctx.git(repo, *command, "--end-of-options", *commits, ok=(0, 1))
    if out.code != 0 and not ctx.status(repo)["conflictedFiles"]:
        raise ToolError(f"git cherry-pick failed: {(out.stderr or out.stdout).strip()[-2000:]}")
    return _outcome(ctx, repo, out, pickedCommits=commits if out.code == 0 else [])


def merge_tools(ctx: GitContext) -> list[Tool]:
    ref = "Must not start with '-'."
    strategy = enum(_STRATEGIES, "Merge strategy.")
    return [
        tool(
            ctx,
            "git_merge",
            "Merge a branch into the current branch, or abort a merge.",
            closed(
                {
                    "path": PATH,
                    "branch": string("Branch or commit to merge. " + ref, 512),
                    "message": string("Merge commit message.", 65536),
                    "noFastForward": boolean("Always create a merge commit."),
                    "squash": boolean("Squash into staged changes, no merge commit."),
                    "strategy": strategy,
                    "abort": boolean("Abort the merge in progress."),
                }
            ),
            git_merge,
        ),
        tool(
            ctx,
            "git_rebase",
            "Rebase the current branch onto upstream, or continue, skip or "
            "abort a rebase in progress.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(["start", "continue", "abort", "skip"], "Default start."),
                    "upstream": string("Branch to rebase onto (start). " + ref, 512),
                    "branch": string("Branch to rebase (default: current). " + ref, 512),
                    "onto": string("Rebase onto this commit instead of upstream. " + ref, 512),
                }
            ),
            git_rebase,
            destructive=True,
        ),
        tool(
            ctx,
            "git_cherry_pick",
            "Apply existing commits onto the current branch.",
            closed(
                {
                    "path": PATH,
                    "commits": {
                        "type": "array",
                        "items": string("A commit. " + ref, 512),
                        "maxItems": 100,
                        "description": "Commits to apply, in order.",
                    },
                    "noCommit": boolean("Apply to index and working tree without committing."),
                    "mainline": integer("Parent number for a merge commit.", 1, 16),
                    "strategy": strategy,
                    "continueOperation": boolean("Continue after resolving conflicts."),
                    "abort": boolean("Abort the cherry-pick in progress."),
                }
            ),
            git_cherry_pick,
        ),
    ]
