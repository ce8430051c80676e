"""``ironcurtain exec FILE.py``: run a snippet in the sandbox with the real tools and policy.

For users testing what a policy lets code do, and for tests: the snippet runs exactly as the
agent's code would (WebAssembly sandbox, chokepoint, audit), and the JSON result is printed.
``-`` reads the snippet from standard input. Escalations wait for an answer from
``ironcurtain escalation-listener`` in another terminal (or time out, which denies).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Python file to run in the sandbox (- for standard input)")
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument("--sandbox", type=Path, help="the agent's working folder (default: new)")


def run(args: argparse.Namespace) -> int:
    import anyio

    from appliance.config import ConfigError, load_config
    from appliance.paths import app_paths

    try:
        code = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ironcurtain: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    result = anyio.run(_execute, code, args, config, app_paths())
    print(result.to_json())
    return 0 if result.ok else 1


async def _execute(code: str, args: argparse.Namespace, config, paths):
    from appliance.code_mode import CodeExecutor
    from appliance.code_session import make_sandbox
    from appliance.session import SessionOptions, open_session
    from appliance.workspace import require_workspace

    args.sandbox = require_workspace(args.sandbox, paths)  # issue 15: the one workspace check
    options = SessionOptions(
        task=f"exec {args.file}", policy_dir=args.policy_dir, sandbox=args.sandbox, mode="exec"
    )
    sandbox = make_sandbox()
    async with open_session(config, paths, options) as session:
        catalog = [t.catalog_entry() for t in await session.servers.all_tools()]
        print(f"session {session.id} · sandbox {session.sandbox}", file=sys.stderr)
        return await CodeExecutor(session.chokepoint, sandbox, catalog).run(code)
