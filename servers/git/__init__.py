"""The git MCP server: the 28 tools of @cyanheads/git-mcp-server, driving the ``git`` CLI.

Started as ``ironcurtain serve git [--base-dir DIR]``. It must never let a repository's own
files make git run a program (hooks, fsmonitor, filters, textconv, external diff, ssh, pager,
credential helpers, signing programs: see ``runner`` and ``repoconfig``), never touch a
directory outside ``--base-dir`` when one is given (``workspace``), and never pass an agent's
value to git where it could be read as an option or a refspec (``checks``). It starts no
process except through ``runner``.

May import: ``servers.wire``, ``servers.fetch.addresses`` (one URL allowlist) and the standard
library.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["build_server", "main"]

VERSION = "0.1.0"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcurtain serve git", description="MCP server for git repositories over stdio."
    )
    parser.add_argument("--base-dir", type=Path, help="keep every repository and path inside DIR")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per git command (remote ones: x4)"
    )
    parser.add_argument(
        "--max-output", type=int, default=512 * 1024, help="bytes of git output kept per command"
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="let https remotes reach loopback, private and link-local addresses",
    )
    parser.add_argument(
        "--test-only-trust-repository",
        action="store_true",
        help="TEST ONLY: skip the checks of repository content (config allowlist, submodules)",
    )
    return parser


def build_server(argv: list[str]):
    """The configured :class:`servers.wire.server.StdioServer` (tests drive it in memory)."""
    from servers.git.context import GitContext
    from servers.git.enrich import JUDGE_METHOD, judge
    from servers.git.runner import GitRunner
    from servers.git.tools_change import change_tools
    from servers.git.tools_history import history_tools
    from servers.git.tools_merge import merge_tools
    from servers.git.tools_read import read_tools
    from servers.git.tools_refs import ref_tools
    from servers.git.tools_remote import remote_tools
    from servers.git.tools_session import session_tools
    from servers.git.workspace import Workspace
    from servers.wire.server import StdioServer

    args = _parser().parse_args(argv)
    if args.base_dir is not None and not args.base_dir.is_dir():
        raise SystemExit(f"ironcurtain serve git: --base-dir {args.base_dir} is not a directory")
    if args.timeout <= 0 or args.max_output <= 0:
        raise SystemExit("ironcurtain serve git: --timeout and --max-output must be positive")
    if args.test_only_trust_repository:
        print(
            "ironcurtain serve git: WARNING: --test-only-trust-repository is set: repository "
            "config and submodules are NOT checked; a repository's content can run programs. "
            "Never use this outside a test of the kernel confinement.",
            file=sys.stderr,
        )
    runner = GitRunner(
        args.timeout, args.max_output, trust_repository=args.test_only_trust_repository
    )
    ctx = GitContext(runner, Workspace(args.base_dir), args.allow_private_addresses)
    tools = []
    for group in (
        read_tools,
        history_tools,
        change_tools,
        merge_tools,
        ref_tools,
        remote_tools,
        session_tools,
    ):
        tools += group(ctx)
    tools.sort(key=lambda t: t.name)
    instructions = "Git tools. Set a working directory with git_set_working_dir first."
    if ctx.workspace.base is not None:
        instructions += f" Only repositories under {ctx.workspace.base} are reachable."
    takes_path = {t.name: "path" in t.input_schema.get("properties", {}) for t in tools}
    return StdioServer(
        "ironcurtain-git",
        VERSION,
        tools,
        instructions=instructions,
        methods={JUDGE_METHOD: lambda params: judge(ctx, takes_path, params)},
    )


def main(argv: list[str]) -> int:
    try:
        server = build_server(argv)
    except RuntimeError as exc:  # e.g. git missing: the operator reads this, not the agent
        print(f"ironcurtain serve git: {exc}", file=sys.stderr)
        return 1
    server.run()
    return 0
