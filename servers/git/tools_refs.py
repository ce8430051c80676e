"""Tools on refs and worktrees: git_branch, git_tag, git_worktree.

Names are checked as ref names (never refspecs or options); worktree paths are resolved and kept
inside the base directory like every other path.
"""

from __future__ import annotations

from typing import Any

from servers.git.checks import check_branch_name, check_message, check_revision
from servers.git.context import GitContext, reply, tool
from servers.git.runner import Repo
from servers.git.schema import PATH, boolean, closed, enum, string
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["ref_tools"]

_US = "%1f"


def _need(args: dict[str, Any], field: str, action: str) -> str:
    if field not in args:
        raise ToolError(f"{action} needs {field}")
    return args[field]


def _list_branches(ctx: GitContext, repo: Repo, include_remotes: bool) -> list[dict[str, Any]]:
    fields = ["%(refname)", "%(objectname)", "%(HEAD)", "%(upstream:short)", "%(upstream:track)"]
    patterns = ["refs/heads", *(["refs/remotes"] if include_remotes else [])]
    out = ctx.git(repo, "for-each-ref", f"--format={_US.join(fields)}", *patterns)
    branches = []
    for line in out.stdout.splitlines():
        ref, commit, head, upstream, track = (line.split("\x1f") + [""] * 5)[:5]
        entry: dict[str, Any] = {
            "name": ref.removeprefix("refs/heads/").removeprefix("refs/remotes/"),
            "remote": ref.startswith("refs/remotes/"),
            "current": head == "*",
            "commit": commit,
        }
        if upstream:
            entry["upstream"], entry["track"] = upstream, track.strip("[]")
        branches.append(entry)
    return branches


def git_branch(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    operation = args.get("operation", "list")
    force = bool(args.get("force"))
    if operation == "list":
        branches = _list_branches(ctx, repo, bool(args.get("all")))
        return reply(
            {
                "operation": operation,
                "branches": branches,
                "currentBranch": ctx.current_branch(repo),
            }
        )
    if operation == "show-current":
        return reply({"operation": operation, "currentBranch": ctx.current_branch(repo)})
    name = check_branch_name(_need(args, "name", f"git_branch {operation}"), "name")
    if operation == "create":
        start = [check_revision(args["startPoint"], "startPoint")] if "startPoint" in args else []
        ctx.git(repo, "branch", *(["--force"] if force else []), "--end-of-options", name, *start)
        commit = ctx.git(repo, "rev-parse", "--verify", f"refs/heads/{name}").stdout.strip()
        return reply({"operation": operation, "created": name, "commit": commit})
    if operation == "delete":
        was = ctx.git(repo, "rev-parse", "--verify", f"refs/heads/{name}").stdout.strip()
        ctx.git(repo, "branch", "-D" if force else "-d", "--end-of-options", name)
        return reply({"operation": operation, "deleted": name, "commitWas": was, "forced": force})
    new_name = check_branch_name(_need(args, "newName", "git_branch rename"), "newName")
    ctx.git(repo, "branch", "-M" if force else "-m", "--end-of-options", name, new_name)
    return reply({"operation": operation, "renamed": {"from": name, "to": new_name}})


def git_tag(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args["mode"]
    if mode == "list":
        fields = ["%(refname:short)", "%(objectname)", "%(*objectname)", "%(contents:subject)"]
        out = ctx.git(
            repo, "for-each-ref", "--sort=-creatordate", f"--format={_US.join(fields)}", "refs/tags"
        )
        tags = []
        for line in out.stdout.splitlines():
            name, obj, peeled, subject = (line.split("\x1f") + [""] * 4)[:4]
            tags.append(
                {
                    "name": name,
                    "commit": peeled or obj,
                    "annotated": bool(peeled),
                    "message": subject,
                }
            )
        return reply({"mode": mode, "tags": tags})
    name = check_branch_name(_need(args, "tagName", f"git_tag {mode}"), "tagName")
    if mode == "delete":
        was = ctx.git(repo, "rev-parse", "--verify", f"refs/tags/{name}").stdout.strip()
        ctx.git(repo, "tag", "--delete", "--end-of-options", name)
        return reply({"mode": mode, "deleted": name, "objectWas": was})
    command = ["tag", *(["--force"] if args.get("force") else [])]
    message = check_message(args["message"]) if "message" in args else None
    command += ["--annotate", "--file=-"] if message is not None else []
    target = [check_revision(args["commit"], "commit")] if "commit" in args else []
    ctx.git(repo, *command, "--end-of-options", name, *target, stdin=message)
    commit = ctx.git(repo, "rev-parse", "--verify", f"refs/tags/{name}^{{commit}}").stdout.strip()
    return reply({"mode": mode, "created": name, "commit": commit, "annotated": bool(message)})


def git_worktree(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args.get("mode", "list")
    force = ["--force"] if args.get("force") else []
    if mode == "list":
        out = ctx.git(repo, "worktree", "list", "--porcelain")
        trees = [dict(_worktree_fields(block)) for block in out.stdout.split("\n\n") if block]
        return reply({"mode": mode, "worktrees": trees})
    if mode == "prune":
        out = ctx.git(
            repo, "worktree", "prune", "--verbose", *(["--dry-run"] if args.get("dryRun") else [])
        )
        return reply(
            {
                "mode": mode,
                "dryRun": bool(args.get("dryRun")),
                "output": (out.stdout + out.stderr).strip(),
            }
        )
    where = ctx.workspace.resolve(
        _need(args, "worktreePath", f"git_worktree {mode}"), "worktreePath"
    )
    if mode == "add":
        command = ["worktree", "add", *force]
        if "branch" in args:
            command += ["-b", check_branch_name(args["branch"], "branch")]
        command += ["--detach"] if args.get("detach") else []
        start = [check_revision(args["commitish"], "commitish")] if "commitish" in args else []
        ctx.git(repo, *command, str(where), *start)
        return reply({"mode": mode, "added": str(where)})
    if mode == "remove":
        ctx.git(repo, "worktree", "remove", *force, str(where))
        return reply({"mode": mode, "removed": str(where)})
    new = ctx.workspace.resolve(_need(args, "newPath", "git_worktree move"), "newPath")
    ctx.git(repo, "worktree", "move", *force, str(where), str(new))
    return reply({"mode": mode, "moved": {"from": str(where), "to": str(new)}})


def _worktree_fields(block: str):
    for line in block.splitlines():
        key, _, value = line.partition(" ")
        yield ("path" if key == "worktree" else key), (value or True)


def ref_tools(ctx: GitContext) -> list[Tool]:
    ref = "Must not start with '-'."
    return [
        tool(
            ctx,
            "git_branch",
            "List, show, create, delete or rename branches.",
            closed(
                {
                    "path": PATH,
                    "operation": enum(
                        ["list", "create", "delete", "rename", "show-current"], "Default list."
                    ),
                    "name": string("Branch to create, delete or rename. " + ref, 255),
                    "newName": string("New name (rename). " + ref, 255),
                    "startPoint": string("Commit the new branch starts at (create). " + ref, 512),
                    "force": boolean(
                        "create: reset an existing branch; delete: even if unmerged; "
                        "rename: overwrite an existing branch."
                    ),
                    "all": boolean("list: include remote-tracking branches."),
                }
            ),
            git_branch,
            destructive=True,
        ),
        tool(
            ctx,
            "git_tag",
            "List, create or delete tags.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(["list", "create", "delete"], "Tag operation."),
                    "tagName": string("Tag to create or delete. " + ref, 255),
                    "message": string("Message: makes an annotated tag.", 65536),
                    "commit": string("Commit to tag (default HEAD). " + ref, 512),
                    "force": boolean("create: replace an existing tag."),
                },
                ("mode",),
            ),
            git_tag,
            destructive=True,
        ),
        tool(
            ctx,
            "git_worktree",
            "List, add, remove, move or prune linked worktrees.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(["list", "add", "remove", "move", "prune"], "Default list."),
                    "worktreePath": string("Worktree directory (add, remove, move)."),
                    "newPath": string("New directory (move)."),
                    "branch": string("add: create this new branch in the worktree. " + ref, 255),
                    "commitish": string(
                        "add: check out this existing commit or branch. " + ref, 512
                    ),
                    "detach": boolean("add: detached HEAD."),
                    "force": boolean("add/remove/move even with local changes or locks."),
                    "dryRun": boolean("prune: only report."),
                }
            ),
            git_worktree,
            destructive=True,
        ),
    ]
