"""Read-only tools on the working tree and index: git_status, git_diff, git_blame.

Diff-producing commands always get ``--no-ext-diff --no-textconv``: external diff programs and
textconv filters are commands named by the repository's config.
"""

from __future__ import annotations

from typing import Any

from servers.git.checks import SECRET_EXCLUDES, check_pathspec, check_revision
from servers.git.context import GitContext, reply, tool
from servers.git.schema import PATH, boolean, closed, integer, string, strings
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["read_tools"]

_NO_PROGRAMS = ("--no-ext-diff", "--no-textconv", "--no-color")
_MAX_BLAME_LINES = 5000


def git_status(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    return reply(ctx.status(repo))


def git_diff(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    command = ["diff", *_NO_PROGRAMS, f"-U{args.get('contextLines', 3)}"]
    if args.get("staged"):
        command.append("--cached")
    if args.get("stat"):
        command.append("--stat")
    elif args.get("nameOnly"):
        command.append("--name-only")
    command.append("--end-of-options")
    for field in ("source", "target"):
        if field in args:
            command.append(check_revision(args[field], field))
    command.append("--")
    command += [check_pathspec(p, "paths[]") for p in args.get("paths", [])]
    out = ctx.git(repo, *command, *SECRET_EXCLUDES)
    return reply({"diff": out.stdout, **_diff_counts(out.stdout, args)}, out.truncated)


def _diff_counts(text: str, args: dict[str, Any]) -> dict[str, int]:
    lines = text.splitlines()
    if args.get("nameOnly") and not args.get("stat"):
        return {"filesChanged": len([line for line in lines if line])}
    if args.get("stat"):
        return {"filesChanged": max(len(lines) - 1, 0)}
    return {
        "filesChanged": sum(1 for line in lines if line.startswith("diff --git ")),
        "insertions": sum(1 for line in lines if line.startswith("+") and line[:4] != "+++ "),
        "deletions": sum(1 for line in lines if line.startswith("-") and line[:4] != "--- "),
    }


def git_blame(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    file_path = check_pathspec(args["filePath"], "filePath")
    command = ["blame", "--porcelain", "--no-textconv"]
    if args.get("ignoreWhitespace"):
        command.append("-w")
    start, end = args.get("startLine"), args.get("endLine")
    if start is not None or end is not None:
        if start is not None and end is not None and end < start:
            raise ToolError(f"endLine {end} is before startLine {start}")
        command.append(f"-L{start or 1},{end or ''}")
    out = ctx.git(repo, *command, "--", file_path)
    lines = _parse_blame(out.stdout)
    truncated = out.truncated or len(lines) > _MAX_BLAME_LINES
    data = {"filePath": file_path, "lines": lines[:_MAX_BLAME_LINES], "totalLines": len(lines)}
    return reply(data, truncated)


def _parse_blame(raw: str) -> list[dict[str, Any]]:
    commits: dict[str, dict[str, Any]] = {}
    lines: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in raw.split("\n"):
        if line.startswith("\t"):
            lines.append({**current, "content": line[1:]})
            continue
        head = line.split(" ")
        if len(head) >= 3 and len(head[0]) >= 40 and head[2].isdigit():
            info = commits.setdefault(head[0], {"author": "", "timestamp": 0})
            current = {"lineNumber": int(head[2]), "commitHash": head[0], **info}
            current["_info"] = info
        elif line.startswith("author ") and current:
            current["_info"]["author"] = current["author"] = line[7:]
        elif line.startswith("author-time ") and current:
            stamp = int(line[12:]) if line[12:].isdigit() else 0
            current["_info"]["timestamp"] = current["timestamp"] = stamp
    for entry in lines:
        entry.pop("_info", None)
    return lines


def read_tools(ctx: GitContext) -> list[Tool]:
    return [
        tool(
            ctx,
            "git_status",
            "Show the working tree status: branch, upstream, staged, "
            "unstaged, untracked and conflicted files.",
            closed({"path": PATH}),
            git_status,
            read_only=True,
        ),
        tool(
            ctx,
            "git_diff",
            "Show changes: unstaged (default), staged, or between commits, as a unified diff.",
            closed(
                {
                    "path": PATH,
                    "target": string(
                        "Commit/branch to compare against (alone: against the working tree)."
                    ),
                    "source": string("Commit/branch to compare from (with target)."),
                    "paths": strings("Limit the diff to these files (relative to the repository)."),
                    "staged": boolean("Show staged changes instead of unstaged ones."),
                    "nameOnly": boolean("Only the names of changed files."),
                    "stat": boolean("A diffstat instead of the diff."),
                    "contextLines": integer("Lines of context around changes.", 0, 100),
                }
            ),
            git_diff,
            read_only=True,
        ),
        tool(
            ctx,
            "git_blame",
            "Show who last changed each line of a file, and when.",
            closed(
                {
                    "path": PATH,
                    "filePath": string("File to blame (relative to the repository)."),
                    "startLine": integer("First line (1-based).", 1, 10_000_000),
                    "endLine": integer("Last line (1-based).", 1, 10_000_000),
                    "ignoreWhitespace": boolean("Ignore whitespace changes."),
                },
                ("filePath",),
            ),
            git_blame,
            read_only=True,
        ),
    ]
