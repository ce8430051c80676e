"""Tools that talk to other repositories: git_remote, git_clone, git_fetch, git_pull, git_push.

A remote is https or a local repository inside the base directory; ssh, git://, ``ext::`` and
other helpers are refused here and again by git (``protocol.allow=never``). The URL checked is
the one git will use: ``git remote get-url`` applies the repository's ``insteadOf`` rewrites.
Refspecs are built here from checked branch names, so ``+`` (force) and ``:`` (delete,
redirect) only ever come from explicit arguments.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

from servers.git.checks import check_branch_name, check_remote_name, shown
from servers.git.context import GitContext, reply, tool
from servers.git.runner import GitTimedOut, Repo
from servers.git.schema import PATH, boolean, closed, enum, integer, string
from servers.wire.cancel import CallCancelled
from servers.wire.server import Tool, ToolError, ToolResult

__all__ = ["check_remote_url", "remote_tools"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_NETWORK_FACTOR = 4  # remote operations get this many times the per-command timeout


def check_remote_url(ctx: GitContext, value: str, field: str, cwd: Path | None) -> str:
    """Refuse anything but https and local repositories inside the base directory.

    Answers the URL to use: a local path comes back absolute and resolved.
    """
    if not value or len(value) > 2048 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ToolError(f"{field}: {shown(value)} is empty, too long or has control characters")
    if value.startswith("-"):
        raise ToolError(f"{field}: {shown(value)} starts with '-' and would be read as an option")
    match = _SCHEME.fullmatch(value)
    if match:
        scheme, rest = match[1].lower(), match[2]
        if scheme == "https" and rest and not rest.startswith(("-", "/")):
            return value
        if scheme == "file" and rest.startswith("/"):
            _check_local(ctx, _unquote(rest), field, value, cwd)
            return value
        raise ToolError(
            f"{field}: {shown(value)} is not allowed: remotes are https:// URLs or "
            "local repositories (file:// or a path)"
        )
    if "::" in value:
        raise ToolError(
            f"{field}: {shown(value)} uses a remote helper (transport::address), "
            "which is not allowed"
        )
    colon, slash = value.find(":"), value.find("/")
    if colon > 0 and (slash == -1 or colon < slash):
        raise ToolError(
            f"{field}: {shown(value)} is an ssh address (host:path); ssh is not allowed, use https"
        )
    return _check_local(ctx, value, field, value, cwd)


def _unquote(text: str) -> str:
    # urllib.parse would do, but importing it (and ipaddress with it) costs the server's start.
    decoded = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), text.encode())
    return decoded.decode("utf-8", "replace")


def _check_local(ctx: GitContext, local: str, field: str, raw: str, cwd: Path | None) -> str:
    target = Path(local)
    if not target.is_absolute():
        if cwd is None:
            raise ToolError(f"{field}: {shown(raw)} is a relative path; give an absolute one")
        target = cwd / target
    # The local repository's own git directory must be inside the base too (.git files etc.),
    # and its content passes the same checks as any repository the server works in: the
    # far side of a local transport is git reading that repository's config.
    repo = ctx.workspace.repo(str(target), field)
    if repo.cwd != (repo.work_tree or repo.git_dir):
        # git's far side does not look up for a repository as we do: for a folder that is not
        # itself one it tries '<path>.git' (and '<path>.git/.git'), a repository we never
        # checked (its commondir or alternates could lead out of the base directory).
        raise ToolError(
            f"{field}: {shown(raw)} is not the top of a repository (a folder holding .git, or "
            f"a bare repository); {repo.cwd} lies inside the repository {repo.work_tree}"
        )
    ctx.git(repo, "rev-parse", "--git-dir")
    return str(repo.cwd)


def _upload_pack(ctx: GitContext) -> str:
    return f"--upload-pack={ctx.runner.tools['upload-pack']}"


def _remote_urls(ctx: GitContext, repo: Repo, name: str, push: bool) -> list[str]:
    out = ctx.git(repo, "remote", "get-url", "--all", *(["--push"] if push else []), name)
    urls = [url for url in out.stdout.splitlines() if url]
    for url in urls:
        field = f"remote {name!r} url"
        check_reachable(ctx, check_remote_url(ctx, url, field, repo.cwd), field)
    return urls


def check_reachable(ctx: GitContext, url: str, field: str) -> None:
    """An https remote must pass the fetch server's address checks before git contacts it:
    no loopback, private, link-local or metadata address (unless the operator started the
    server with ``--allow-private-addresses``; metadata stays refused even then). git resolves
    the name again when it connects: the check is made on the answer we got (see the docs)."""
    if not url.lower().startswith("https://"):
        return  # a local repository, already contained by check_remote_url
    from servers.fetch.addresses import check_url, system_resolver

    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]  # credentials in the URL are not the check's business
    try:
        check_url(
            f"{scheme}://{host}{slash}{path}", system_resolver, ctx.allow_private_addresses, 5.0
        )
    except ToolError as exc:
        raise ToolError(f"{field}: {shown(url)}: {exc}") from None


def git_remote(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    mode = args["mode"]
    if mode == "list":
        out = ctx.git(repo, "remote", "--verbose")
        remotes: dict[str, dict[str, str]] = {}
        for line in out.stdout.splitlines():
            name, _, rest = line.partition("\t")
            url, _, kind = rest.rpartition(" ")
            remotes.setdefault(name, {"name": name})[kind.strip("()")] = url
        return reply({"mode": mode, "remotes": list(remotes.values())})
    if "name" not in args:
        raise ToolError(f"git_remote {mode} needs name")
    name = check_remote_name(args["name"], "name")
    if mode == "remove":
        ctx.git(repo, "remote", "remove", name)
        return reply({"mode": mode, "removed": name})
    if mode == "get-url":
        urls = ctx.git(repo, "remote", "get-url", "--all", name).stdout.split()
        return reply({"mode": mode, "name": name, "urls": urls})
    if "url" not in args:
        raise ToolError(f"git_remote {mode} needs url")
    url = check_remote_url(ctx, args["url"], "url", repo.cwd)
    ctx.git(repo, "remote", "add" if mode == "add" else "set-url", name, url)
    return reply({"mode": mode, "name": name, "url": url})


def git_clone(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    url = check_remote_url(ctx, args["url"], "url", ctx.workspace.working_dir or ctx.workspace.base)
    check_reachable(ctx, url, "url")
    target = ctx.workspace.resolve(args["localPath"], "localPath")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ToolError(f"localPath: {target} already exists and is not an empty directory")
    parent = next(p for p in target.parents if p.is_dir())
    ctx.workspace.contain(parent, "localPath")
    command = ["clone", "--no-recurse-submodules", _upload_pack(ctx)]
    command += ["--bare"] if args.get("bare") else []
    command += [f"--branch={check_branch_name(args['branch'])}"] if "branch" in args else []
    command += [f"--depth={args['depth']}"] if "depth" in args else []
    timeout = ctx.runner.timeout * _NETWORK_FACTOR
    existed = target.exists()
    try:
        ctx.git(Repo(parent), *command, "--", url, str(target), timeout=timeout)
    except (CallCancelled, GitTimedOut):
        _undo_clone(parent, target, existed)
        raise
    return reply({"url": url, "localPath": str(target), "bare": bool(args.get("bare"))})


def _undo_clone(parent: Path, target: Path, existed: bool) -> None:
    """A cancelled or timed-out clone: remove what it made, if git (stopped) did not remove it
    itself: the first folder it created under ``parent``, or what it put in the empty folder it
    was given. Never through a symlink (``shutil.rmtree`` works on descriptors and refuses one)."""
    if not existed:
        made = parent / target.relative_to(parent).parts[0]
        with contextlib.suppress(OSError):
            shutil.rmtree(made)
        return
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        for name in os.listdir(fd):
            with contextlib.suppress(OSError):
                shutil.rmtree(name, dir_fd=fd)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def git_fetch(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    if args.get("all"):
        names = ctx.git(repo, "remote").stdout.split()
    else:
        names = [check_remote_name(args.get("remote", "origin"), "remote")]
    urls = {name: _remote_urls(ctx, repo, name, push=False) for name in names}
    command = ["fetch", "--no-recurse-submodules", _upload_pack(ctx)]
    command += ["--prune"] if args.get("prune") else []
    command += ["--tags"] if args.get("tags") else []
    command += ["--all"] if args.get("all") else names
    out = ctx.git(repo, *command, timeout=ctx.runner.timeout * _NETWORK_FACTOR)
    return reply({"remotes": urls, "output": out.stderr.strip()[-4000:]})


def git_pull(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    name = check_remote_name(args.get("remote", "origin"), "remote")
    urls = _remote_urls(ctx, repo, name, push=False)
    command = ["pull", "--no-edit", "--no-recurse-submodules", _upload_pack(ctx)]
    command += ["--rebase"] if args.get("rebase") else ["--no-rebase"]
    command += ["--ff-only"] if args.get("ffOnly") else []
    branch = [check_branch_name(args["branch"])] if "branch" in args else []
    out = ctx.git(
        repo, *command, name, *branch, ok=(0, 1), timeout=ctx.runner.timeout * _NETWORK_FACTOR
    )
    status = ctx.status(repo)
    if out.code != 0 and not status["conflictedFiles"]:
        raise ToolError(f"git pull failed: {(out.stderr or out.stdout).strip()[-2000:]}")
    return reply(
        {
            "remote": name,
            "urls": urls,
            "success": out.code == 0,
            "conflicts": bool(status["conflictedFiles"]),
            "head": status["commit"],
            "output": (out.stdout + out.stderr).strip()[-4000:],
            "status": status,
        }
    )


def git_push(ctx: GitContext, args: dict[str, Any]) -> ToolResult:
    repo = ctx.repo(args)
    name = check_remote_name(args.get("remote", "origin"), "remote")
    urls = _remote_urls(ctx, repo, name, push=True)
    branch = args.get("branch") or ctx.current_branch(repo)
    if branch is None:
        raise ToolError("git_push needs branch: HEAD is detached")
    branch = check_branch_name(branch)
    remote_branch = check_branch_name(args.get("remoteBranch", branch), "remoteBranch")
    command = [
        "push",
        "--porcelain",
        "--no-verify",
        f"--receive-pack={ctx.runner.tools['receive-pack']}",
    ]
    command += ["--force"] if args.get("force") else []
    command += ["--force-with-lease"] if args.get("forceWithLease") else []
    command += ["--set-upstream"] if args.get("setUpstream") else []
    command += ["--tags"] if args.get("tags") else []
    if args.get("delete"):
        refspec = ["--delete", f"refs/heads/{remote_branch}"]
    else:
        refspec = [f"refs/heads/{branch}:refs/heads/{remote_branch}"]
    out = ctx.git(
        repo, *command, name, *refspec, ok=(0, 1), timeout=ctx.runner.timeout * _NETWORK_FACTOR
    )
    updates = [line.split("\t") for line in out.stdout.splitlines() if line.count("\t") >= 2]
    result = [{"flag": u[0], "ref": u[1], "summary": u[2]} for u in updates]
    if out.code != 0:
        raise ToolError(f"git push was rejected: {(out.stderr + out.stdout).strip()[-2000:]}")
    return reply(
        {
            "remote": name,
            "urls": urls,
            "branch": branch,
            "remoteBranch": remote_branch,
            "deleted": bool(args.get("delete")),
            "forced": bool(args.get("force") or args.get("forceWithLease")),
            "updates": result,
        }
    )


def remote_tools(ctx: GitContext) -> list[Tool]:
    remote = string("Remote name (default origin).", 100)
    return [
        tool(
            ctx,
            "git_remote",
            "List, add, remove remotes, show or change a remote's URL.",
            closed(
                {
                    "path": PATH,
                    "mode": enum(
                        ["list", "add", "remove", "get-url", "set-url"], "Remote operation."
                    ),
                    "name": string("Remote name.", 100),
                    "url": string("Remote URL: https:// or a local repository.", 2048),
                },
                ("mode",),
            ),
            git_remote,
            destructive=True,
        ),
        tool(
            ctx,
            "git_clone",
            "Clone a repository into a new directory.",
            closed(
                {
                    "url": string("https:// URL or local repository to clone.", 2048),
                    "localPath": string("New directory for the clone."),
                    "branch": string("Branch to check out.", 255),
                    "depth": integer("Shallow clone with this many commits.", 1, 1_000_000),
                    "bare": boolean("Make a bare repository."),
                },
                ("url", "localPath"),
            ),
            git_clone,
        ),
        tool(
            ctx,
            "git_fetch",
            "Download objects and refs from a remote.",
            closed(
                {
                    "path": PATH,
                    "remote": remote,
                    "prune": boolean("Drop vanished remote branches."),
                    "tags": boolean("Fetch all tags."),
                    "all": boolean("Fetch every remote."),
                }
            ),
            git_fetch,
        ),
        tool(
            ctx,
            "git_pull",
            "Fetch from a remote and merge (or rebase) into the current branch.",
            closed(
                {
                    "path": PATH,
                    "remote": remote,
                    "branch": string("Remote branch.", 255),
                    "rebase": boolean("Rebase instead of merge."),
                    "ffOnly": boolean("Only fast-forward."),
                }
            ),
            git_pull,
        ),
        tool(
            ctx,
            "git_push",
            "Push a branch to a remote (force and delete only when asked).",
            closed(
                {
                    "path": PATH,
                    "remote": remote,
                    "branch": string("Local branch to push (default: current).", 255),
                    "remoteBranch": string("Branch name on the remote (default: same).", 255),
                    "force": boolean("Overwrite the remote branch even if not a fast-forward."),
                    "forceWithLease": boolean("Force only if the remote is where we last saw it."),
                    "setUpstream": boolean("Make the remote branch this branch's upstream."),
                    "tags": boolean("Also push all tags."),
                    "delete": boolean("DELETE remoteBranch on the remote instead of pushing."),
                }
            ),
            git_push,
            destructive=True,
        ),
    ]
