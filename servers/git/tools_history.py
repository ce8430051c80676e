"""Read-only tools on history: git_log, git_show, git_reflog, git_changelog_analyze."""

from __future__ import annotations

from typing import Any

from servers.git.checks import (
    SECRET_EXCLUDES,
    check_not_secret,
    check_pathspec,
    check_revision,
    shown,
)
from servers.git.context import GitContext, reply, tool
from servers.git.parse import LOG_FORMAT, parse_log
from servers.git.runner import GitFailed, Repo
from servers.git.schema import PATH, boolean, closed, enum, integer, string
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["history_tools"]

_NO_PROGRAMS = ("--no-ext-diff", "--no-textconv", "--no-color")
_REVIEWS = {
    "security": "Security: find commits touching authentication, input handling, secrets or "
    "dependencies that the changelog does not mention, or mentions too mildly.",
    "features": "Features: describe where development is heading and what looks unfinished.",
    "storyline": "Storyline: tell the project's history release by release, using tags as "
    "milestones.",
    "gaps": "Gaps: list meaningful commits with no changelog entry, and entries with no commit.",
    "breaking_changes": "Breaking changes: check that each is marked, explained and has a "
    "migration path, and that major versions match them.",
    "quality": "Quality: look at the ratio of fixes to features, reverts, hotfixes and the "
    "consistency of commit messages.",
}


def _log_filters(args: dict[str, Any]) -> list[str]:
    command = []
    for field, option in (
        ("since", "--since"),
        ("until", "--until"),
        ("author", "--author"),
        ("grep", "--grep"),
    ):
        if field in args:
            command.append(f"{option}={args[field]}")
    if "skip" in args:
        command.append(f"--skip={args['skip']}")
    command.append(f"--max-count={args.get('maxCount', 20)}")
    command.append("--end-of-options")
    if "branch" in args:
        command.append(check_revision(args["branch"], "branch"))
    command.append("--")
    if "filePath" in args:
        command.append(check_pathspec(args["filePath"], "filePath"))
    return command


def git_log(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    filters = _log_filters(args)
    out = ctx.git(repo, "log", "-z", f"--format={LOG_FORMAT}", *filters, ok=(0, 128))
    if out.code != 0:
        if "branch" not in args and ctx.head(repo) is None:  # only now: the rare case
            return reply({"commits": [], "totalCount": 0, "note": "the repository has no commits"})
        raise GitFailed("log", out)
    commits = parse_log(out.stdout)
    if args.get("oneline"):
        commits = [{k: c[k] for k in ("hash", "shortHash", "subject")} for c in commits]
    truncated = out.truncated
    for kind in ("stat", "patch"):
        if args.get(kind) and commits:
            texts, cut = _per_commit(ctx, repo, "--stat" if kind == "stat" else "-p", filters)
            truncated = truncated or cut
            for commit in commits:
                commit[kind] = texts.get(commit["hash"], "")
    return reply({"commits": commits, "totalCount": len(commits)}, truncated)


def _per_commit(ctx: GitContext, repo: Repo, option: str, filters: list[str]):
    # A line starting with 0x1e can't be diff content (those start with ' ', '+', '-', ...).
    command = ["log", *_NO_PROGRAMS, "--format=%x1e%H", option, *filters, *SECRET_EXCLUDES]
    out = ctx.git(repo, *command)
    texts: dict[str, str] = {}
    for chunk in out.stdout.split("\x1e")[1:]:
        commit, _, text = chunk.partition("\n")
        texts[commit.strip()] = text.strip("\n")
    return texts, out.truncated


def git_show(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    target = check_revision(args["object"], "object")
    check_not_secret(target, "object")
    if "filePath" in args:
        target = f"{target}:{check_pathspec(args['filePath'], 'filePath')}"
    kind = ctx.git(repo, "cat-file", "-t", target).stdout.strip()
    if kind == "tag":  # a tag of a file shows the file: judge what it points at
        kind_peeled = ctx.git(repo, "cat-file", "-t", f"{target}^{{}}").stdout.strip()
        if kind_peeled == "blob":
            raise ToolError(f"object: {shown(target)} tags a file; use REV:path instead")
    if kind == "blob" and ":" not in target:
        # A file is shown by REV:path, so its name is checked; an id alone names no path.
        raise ToolError(f"object: {shown(target)} is a file named by id; use REV:path instead")
    command = ["show", *_NO_PROGRAMS, *(["--stat"] if args.get("stat") else [])]
    command += ["--end-of-options", target, "--"]
    out = ctx.git(repo, *command, *(SECRET_EXCLUDES if kind == "commit" else ()))
    return reply({"object": target, "type": kind, "content": out.stdout}, out.truncated)


def git_reflog(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    ref = check_revision(args.get("ref", "HEAD"), "ref")
    count = args.get("maxCount", 30)
    out = ctx.git(
        repo,
        "log",
        "-g",
        "-z",
        "--format=%H%x1f%gd%x1f%gs%x1f%ct",
        f"--max-count={count}",
        "--end-of-options",
        ref,
        "--",
        ok=(0, 128),
    )
    entries = []
    for record in out.stdout.split("\x00"):
        fields = record.strip("\n").split("\x1f", 3)
        if len(fields) == 4:
            stamp = int(fields[3]) if fields[3].isdigit() else 0
            entries.append(
                {"hash": fields[0], "selector": fields[1], "action": fields[2], "timestamp": stamp}
            )
    return reply({"ref": ref, "entries": entries, "totalCount": len(entries)}, out.truncated)


def git_changelog_analyze(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    log_args: dict[str, Any] = {"maxCount": args.get("maxCommits", 200)}
    if "sinceTag" in args:
        log_args["branch"] = f"{check_revision(args['sinceTag'], 'sinceTag')}..HEAD"
    elif "branch" in args:
        log_args["branch"] = args["branch"]
    commits = (
        []
        if ctx.head(repo) is None
        else parse_log(
            ctx.git(repo, "log", "-z", f"--format={LOG_FORMAT}", *_log_filters(log_args)).stdout
        )
    )
    tags_out = ctx.git(
        repo,
        "for-each-ref",
        "--sort=-creatordate",
        f"--count={args.get('maxTags', 100)}",
        "--format=%(refname:short)%1f%(objectname)%1f%(creatordate:unix)",
        "refs/tags",
    )
    tags = []
    for line in tags_out.stdout.splitlines():
        name, _, rest = line.partition("\x1f")
        commit, _, stamp = rest.partition("\x1f")
        tags.append({"name": name, "commit": commit, "timestamp": int(stamp or 0)})
    reviews = list(dict.fromkeys(args["reviewTypes"]))
    summary = [
        {k: c[k] for k in ("shortHash", "subject", "author", "timestamp", "refs")} for c in commits
    ]
    instructions = "Read the changelog file yourself, then cross-check it with this history.\n"
    return reply(
        {
            "reviewTypes": reviews,
            "gitContext": {
                "currentBranch": ctx.current_branch(repo),
                "commits": summary,
                "totalCommitsFetched": len(summary),
                "tags": tags,
            },
            "reviewInstructions": instructions + "\n".join(_REVIEWS[r] for r in reviews),
        }
    )


_REF = "Commit, branch or tag; must not start with '-'."


def history_tools(ctx: GitContext) -> list[Tool]:
    log_schema = closed(
        {
            "path": PATH,
            "maxCount": integer("Most commits to return.", 1, 1000),
            "skip": integer("Commits to skip.", 0, 10_000_000),
            "since": string("Only commits after this date.", 100),
            "until": string("Only commits before this date.", 100),
            "author": string("Only commits whose author matches.", 200),
            "grep": string("Only commits whose message matches this pattern.", 500),
            "branch": string("Branch or revision range to list (default: HEAD). " + _REF, 512),
            "filePath": string("Only commits touching this file."),
            "oneline": boolean("Return only hash, shortHash and subject."),
            "stat": boolean("Add each commit's diffstat."),
            "patch": boolean("Add each commit's diff."),
        }
    )
    return [
        tool(
            ctx,
            "git_log",
            "Show commit history, optionally filtered.",
            log_schema,
            git_log,
            read_only=True,
        ),
        tool(
            ctx,
            "git_show",
            "Show a commit, tag, tree or blob, or a file at a revision.",
            closed(
                {
                    "path": PATH,
                    "object": string("Object to show. " + _REF, 512),
                    "filePath": string("Show this file as it is in object."),
                    "stat": boolean("A diffstat instead of the diff."),
                },
                ("object",),
            ),
            git_show,
            read_only=True,
        ),
        tool(
            ctx,
            "git_reflog",
            "Show where a ref (default HEAD) has pointed.",
            closed(
                {
                    "path": PATH,
                    "ref": string("Ref whose log to show. " + _REF, 512),
                    "maxCount": integer("Most entries to return.", 1, 1000),
                }
            ),
            git_reflog,
            read_only=True,
        ),
        tool(
            ctx,
            "git_changelog_analyze",
            "Gather commits and tags plus review instructions "
            "for checking a changelog (read the changelog file separately).",
            closed(
                {
                    "path": PATH,
                    "reviewTypes": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 6,
                        "items": enum(list(_REVIEWS), "A review type."),
                        "description": "Reviews to perform.",
                    },
                    "maxCommits": integer("Most commits to fetch.", 1, 1000),
                    "maxTags": integer("Most tags to fetch.", 1, 1000),
                    "sinceTag": string("Only history since this tag. " + _REF, 255),
                    "branch": string("Branch to analyse (default: current). " + _REF, 255),
                },
                ("reviewTypes",),
            ),
            git_changelog_analyze,
            read_only=True,
        ),
    ]
