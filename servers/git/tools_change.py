"""Tools that change the index and working tree: git_add, git_commit, git_reset, git_clean,
git_checkout, git_stash.

Destructive effects need an explicit argument (``mode`` for reset, ``force: true`` for clean, a
named stash ``mode``) and every result says what changed.
"""

from __future__ import annotations

from typing import Any

from servers.git.checks import (
    SECRET_EXCLUDES,
    SECRET_IGNORES,
    check_branch_name,
    check_message,
    check_pathspec,
    check_revision,
)
from servers.git.context import GitContext, reply, tool
from servers.git.runner import Repo
from servers.git.schema import PATH, boolean, closed, enum, string, strings
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["change_tools"]


def _pathspecs(values: list[str], field: str) -> list[str]:
    return [check_pathspec(value, f"{field}[]") for value in values]


def git_add(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    files = _pathspecs(args.get("files", []), "files")
    if not files and not args.get("all") and not args.get("update"):
        raise ToolError("git_add needs files, or all: true, or update: true")
    command = ["add", *(["--all"] if args.get("all") else [])]
    command += ["--update"] if args.get("update") else []
    command += ["--force"] if args.get("force") else []
    ctx.git(repo, *command, "--", *files, *SECRET_EXCLUDES)
    status = ctx.status(repo)
    staged = [path for paths in status["stagedChanges"].values() for path in paths]
    return reply({"stagedFiles": staged, "totalFiles": len(staged), "status": status})


def _author(value: dict[str, Any]) -> str:
    name, email = value.get("name", ""), value.get("email", "")
    for field, text in (("author.name", name), ("author.email", email)):
        if not text.strip() or any(c in text for c in "<>\n\r\x00"):
            raise ToolError(f"{field}: {text!r} must be non-empty without <, > or line breaks")
    return f"--author={name} <{email}>"


def git_commit(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    message = check_message(args["message"])
    if args.get("files"):
        ctx.git(repo, "add", "--", *_pathspecs(args["files"], "files"), *SECRET_EXCLUDES)
    command = ["commit", "--file=-", "--no-verify"]
    command += ["--amend"] if args.get("amend") else []
    command += ["--allow-empty"] if args.get("allowEmpty") else []
    command += [_author(args["author"])] if "author" in args else []
    ctx.git(repo, *command, stdin=message)
    # One call for the commit and its files: the header, NUL, then NUL-separated names.
    shown = ctx.git(
        repo,
        "log",
        "-1",
        "-z",
        "--name-only",
        "--no-ext-diff",
        "--no-textconv",
        "--format=%H%x1f%ct%x1f%an <%ae>%x00",
    )
    header, _, names = shown.stdout.partition("\x00")
    commit_hash, stamp, author = header.split("\x1f", 2)  # the author goes last: any text
    files = [name.strip("\n") for name in names.split("\x00") if name.strip("\n")]
    return reply(
        {
            "commitHash": commit_hash,
            "message": message,
            "author": author,
            "timestamp": int(stamp),
            "committedFiles": files,
            "status": ctx.status(repo),
        }
    )


def git_reset(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args["mode"]
    target = check_revision(args.get("target", "HEAD"), "target")
    before = ctx.status(repo)
    ctx.git(repo, "reset", "--quiet", f"--{mode}", target, "--")
    after = ctx.status(repo)
    result = {
        "mode": mode,
        "target": target,
        "previousHead": before["commit"],
        "head": after["commit"],
    }
    if mode == "hard":
        lost = before["stagedChanges"], before["unstagedChanges"]
        result["discardedChanges"] = sorted(
            {p for group in lost for ps in group.values() for p in ps}
        )
    return reply({**result, "status": after})


def git_clean(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    dry_run = bool(args.get("dryRun"))
    if not dry_run and args.get("force") is not True:
        raise ToolError("git_clean deletes untracked files: pass force: true (or dryRun: true)")
    command = ["clean", "-n" if dry_run else "-f", *(["-d"] if args.get("directories") else [])]
    # Ignore patterns, not pathspec excludes: with -d, git removes a whole untracked folder
    # whatever exclude pathspecs say about the .env files inside it; an ignored file (and the
    # folder holding it) is kept.
    out = ctx.git(repo, *command, *SECRET_IGNORES, "--")
    prefix = "Would remove " if dry_run else "Removing "
    files = [line[len(prefix) :] for line in out.stdout.splitlines() if line.startswith(prefix)]
    key = "wouldRemove" if dry_run else "removed"
    return reply({"dryRun": dry_run, key: files, "count": len(files)})


def git_checkout(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    target = args["target"]
    force = ["--force"] if args.get("force") else []
    created = bool(args.get("createBranch"))
    if args.get("paths"):
        paths = _pathspecs(args["paths"], "paths")
        revision = check_revision(target, "target")
        ctx.git(repo, "checkout", *force, revision, "--", *paths, *SECRET_EXCLUDES)
        return reply({"target": target, "restoredPaths": paths, "status": ctx.status(repo)})
    if created:
        ctx.git(repo, "checkout", *force, "-b", check_branch_name(target, "target"), "--")
    else:
        ctx.git(repo, "checkout", "--quiet", *force, check_revision(target, "target"), "--")
    status = ctx.status(repo)
    return reply(
        {
            "target": target,
            "branchCreated": created,
            "currentBranch": status["currentBranch"],
            "head": status["commit"],
        }
    )


def git_stash(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args.get("mode", "push")
    if mode == "list":
        out = ctx.git(repo, "stash", "list", "--format=%gd%x1f%H%x1f%s%x1f%ct")
        stashes = []
        for line in out.stdout.splitlines():
            ref, commit, description, stamp = (line.split("\x1f") + [""] * 4)[:4]
            stashes.append(
                {
                    "ref": ref,
                    "commit": commit,
                    "description": description,
                    "timestamp": int(stamp) if stamp.isdigit() else 0,
                }
            )
        return reply({"mode": mode, "stashes": stashes})
    if mode == "push":
        return reply({"mode": mode, **_stash_push(ctx, repo, args)})
    command = ["stash", mode]
    if mode != "clear" and "stashRef" in args:
        command.append(check_revision(args["stashRef"], "stashRef"))
    out = ctx.git(repo, *command, ok=(0, 1))
    status = ctx.status(repo)
    conflicts = bool(status["conflictedFiles"]) or out.code != 0
    return reply(
        {
            "mode": mode,
            "success": out.code == 0,
            "conflicts": conflicts,
            "output": (out.stdout + out.stderr).strip(),
            "status": status,
        }
    )


def _stash_push(ctx: GitContext, repo: Repo, args: dict[str, Any]) -> dict[str, Any]:
    command = ["stash", "push"]
    command += ["--include-untracked"] if args.get("includeUntracked") else []
    command += ["--keep-index"] if args.get("keepIndex") else []
    if "message" in args:
        command.append(f"--message={check_message(args['message'])}")
    # A stash is a commit: a .env in it could be branched from and pushed. The whole tree
    # but .env files, from the top whatever folder the call names.
    command += ["--", ":/", *SECRET_EXCLUDES]
    before = ctx.git(repo, "rev-parse", "--verify", "--quiet", "refs/stash", ok=(0, 1))
    ctx.git(repo, *command)
    after = ctx.git(repo, "rev-parse", "--verify", "--quiet", "refs/stash", ok=(0, 1))
    made = after.stdout.strip() != before.stdout.strip()
    return {"created": "stash@{0}" if made else None, "status": ctx.status(repo)}


def change_tools(ctx: GitContext) -> list[Tool]:
    ref = "Must not start with '-'."
    return [
        tool(
            ctx,
            "git_add",
            "Stage files for the next commit.",
            closed(
                {
                    "path": PATH,
                    "files": strings(
                        "Files or pathspecs to stage (relative to the "
                        "repository); ['.'] stages everything."
                    ),
                    "all": boolean("Stage all changes, untracked files included."),
                    "update": boolean("Stage modified and deleted tracked files only."),
                    "force": boolean("Also stage ignored files."),
                }
            ),
            git_add,
        ),
        tool(
            ctx,
            "git_commit",
            "Record the staged changes as a new commit.",
            closed(
                {
                    "path": PATH,
                    "message": string("Commit message.", 65536),
                    "author": closed(
                        {
                            "name": string("Author name.", 200),
                            "email": string("Author email.", 200),
                        },
                        ("name", "email"),
                    ),
                    "amend": boolean("Replace the last commit instead of adding one."),
                    "allowEmpty": boolean("Allow a commit with no changes."),
                    "files": strings("Files to stage before committing."),
                },
                ("message",),
            ),
            git_commit,
        ),
        tool(
            ctx,
            "git_reset",
            "Move HEAD to target: soft keeps index and files, mixed keeps "
            "files, hard DISCARDS staged and unstaged changes.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(["soft", "mixed", "hard"], "Reset mode."),
                    "target": string("Commit to reset to (default HEAD). " + ref, 512),
                },
                ("mode",),
            ),
            git_reset,
            destructive=True,
        ),
        tool(
            ctx,
            "git_clean",
            "DELETE untracked files (force: true required), or list them (dryRun: true).",
            closed(
                {
                    "path": PATH,
                    "force": boolean("Must be true to delete anything."),
                    "dryRun": boolean("Only list what would be deleted."),
                    "directories": boolean("Also remove untracked directories."),
                },
                ("force",),
            ),
            git_clean,
            destructive=True,
        ),
        tool(
            ctx,
            "git_checkout",
            "Switch to a branch or commit, create a branch, or restore files from a revision.",
            closed(
                {
                    "path": PATH,
                    "target": string("Branch, commit or tag. " + ref, 512),
                    "createBranch": boolean("Create target as a new branch at HEAD."),
                    "force": boolean("Discard local changes that would block the switch."),
                    "paths": strings("Restore only these files from target."),
                },
                ("target",),
            ),
            git_checkout,
            destructive=True,
        ),
        tool(
            ctx,
            "git_stash",
            "List, save (push), restore (pop/apply) or remove (drop/clear) stashed changes.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(
                        ["list", "push", "pop", "apply", "drop", "clear"],
                        "Stash operation (default push).",
                    ),
                    "message": string("Description for push.", 10000),
                    "stashRef": string("Stash to pop/apply/drop, e.g. stash@{0}. " + ref, 100),
                    "includeUntracked": boolean("push: include untracked files."),
                    "keepIndex": boolean("push: keep staged changes in the index."),
                }
            ),
            git_stash,
            destructive=True,
        ),
    ]
