"""``ironcurtain exec FILE.py``: run a snippet in the sandbox with the real tools and policy.

For users testing what a policy lets code do, and for tests: the snippet runs exactly as the
agent's code would (WebAssembly sandbox, chokepoint, audit), and the JSON result is printed —
or, with ``--text``, what a person wants to read: the snippet's own output on stdout, its
errors on stderr, the value of its last expression, and one line with the tool calls and time.
``-`` reads the snippet from standard input. Escalations wait for an answer from
``ironcurtain escalation-listener`` in another terminal (or time out, which denies).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from appliance.sandbox.sandbox import Sandbox


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Python file to run in the sandbox (- for standard input)")
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument("--sandbox", type=Path, help="the agent's working folder (default: new)")
    parser.add_argument(
        "--text", action="store_true", help="print output for people instead of a JSON object"
    )


def run(args: argparse.Namespace) -> int:
    from appliance.config.paths import app_paths
    from appliance.config.settings import ConfigError, load_config

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
    if args.text:
        print_text(result)
    else:
        print(result.to_json())
    return 0 if result.ok else 1


def print_text(result, out=None, err=None) -> None:
    """A run as a person reads it; the JSON form keeps every field for programs."""
    out, err = out or sys.stdout, err or sys.stderr
    if result.stdout:
        print(result.stdout, end="" if result.stdout.endswith("\n") else "\n", file=out)
    if result.stderr:
        print(result.stderr, end="" if result.stderr.endswith("\n") else "\n", file=err)
    if result.result is not None:
        print(f"=> {result.result}", file=out)
    if result.error is not None:
        print(f"error: {result.error.type}: {result.error.message}", file=err)
        if result.error.traceback:
            print(result.error.traceback.rstrip(), file=err)
    if result.output_truncated:
        print("(output was cut at the sandbox's output cap)", file=err)
    calls = "1 tool call" if result.tool_calls == 1 else f"{result.tool_calls} tool calls"
    print(f"({calls}, {result.duration_s:.2f} s)", file=err)


async def _execute(code: str, args: argparse.Namespace, config, paths):
    from appliance.host.workspace import require_workspace
    from appliance.session.core import SessionOptions, open_session

    args.sandbox = require_workspace(args.sandbox, paths)  # issue 15: the one workspace check
    options = SessionOptions(
        task=f"exec {args.file}", policy_dir=args.policy_dir, sandbox=args.sandbox, mode="exec"
    )
    async with open_session(config, paths, options) as session:
        # The two slow parts of a start, side by side: the servers start in their own processes
        # while a thread loads the sandbox (wasmtime's import, the guest's hash and module).
        found: dict[str, Any] = {}

        async def tools() -> None:
            found["tools"] = await session.servers.all_tools()

        async with anyio.create_task_group() as group:
            group.start_soon(tools)
            sandbox = await anyio.to_thread.run_sync(_load_sandbox)
        catalog = [t.catalog_entry() for t in found["tools"]]
        print(f"session {session.id} · sandbox {session.sandbox}", file=sys.stderr)
        from appliance.sandbox.code_mode import CodeExecutor

        return await CodeExecutor(session.chokepoint, sandbox, catalog).run(code)


def _load_sandbox() -> Sandbox:
    from appliance.sandbox.guest import make_sandbox

    return make_sandbox()
