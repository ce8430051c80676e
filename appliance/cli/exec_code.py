"""``ironcurtain exec FILE.py``: run a snippet in the sandbox with the real tools and policy.

For users testing what a policy lets code do, and for tests: the snippet runs exactly as the
agent's code would (WebAssembly sandbox, chokepoint, audit), and the JSON result is printed —
or, with ``--text``, what a person wants to read: the snippet's own output on stdout, its
errors on stderr, the value of its last expression, and one line with the tool calls and time.
``-`` reads the snippet from standard input. Escalations wait for an answer from
``ironcurtain escalation-listener`` in another terminal (or time out, which denies).

Ctrl-C stops the run at its next tool call; a run that reaches none within
``code_mode.STOP_GRACE_SECONDS`` (guest code computing, a call waiting for a human), or a
second Ctrl-C, is stopped at once. Either way the session closes normally and ``exec`` exits
with 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from appliance.host import startup

if TYPE_CHECKING:
    from appliance.sandbox.code_mode import CodeExecutor
    from appliance.sandbox.sandbox import RunResult, Sandbox

INTERRUPTED = "interrupted by the user"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Python file to run in the sandbox (- for standard input)")
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument("--sandbox", type=Path, help="the agent's working folder (default: new)")
    parser.add_argument(
        "--text", action="store_true", help="print output for people instead of a JSON object"
    )


def run(args: argparse.Namespace) -> int:
    startup.loading()  # the session's and the sandbox's imports follow; loaded() before the code
    try:
        code = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ironcurtain: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    # The sandbox (wasmtime's import, the compiled guest's hash and mapping) loads in a thread
    # from the first moment, beside the config's and the session's imports: most of its time
    # is spent outside the interpreter lock.
    sandbox = _Loading()
    from appliance.config.paths import app_paths
    from appliance.config.settings import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    result, interrupted = anyio.run(_execute, code, args, config, app_paths(), sandbox)
    if args.text:
        print_text(result)
    else:
        print(result.to_json())
    if interrupted:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def print_text(result, out=None, err=None) -> None:
    """A run as a person reads it; the JSON form keeps every field for programs."""
    from appliance.chokepoint.escalation.display import neutralise_lines as shown

    # Everything below but the counts was written by the snippet (or a tool result it printed):
    # escape sequences and bidi overrides are shown, never obeyed by the terminal.
    out, err = out or sys.stdout, err or sys.stderr
    if result.stdout:
        print(shown(result.stdout), end="" if result.stdout.endswith("\n") else "\n", file=out)
    if result.stderr:
        print(shown(result.stderr), end="" if result.stderr.endswith("\n") else "\n", file=err)
    if result.result is not None:
        print(f"=> {shown(result.result)}", file=out)
    if result.error is not None:
        print(f"error: {shown(result.error.type)}: {shown(result.error.message)}", file=err)
        if result.error.traceback:
            print(shown(result.error.traceback.rstrip()), file=err)
    if result.output_truncated:
        print("(output was cut at the sandbox's output cap)", file=err)
    calls = "1 tool call" if result.tool_calls == 1 else f"{result.tool_calls} tool calls"
    print(f"({calls}, {result.duration_s:.2f} s)", file=err)


async def _execute(code: str, args: argparse.Namespace, config, paths, loading: _Loading):
    from appliance.host.workspace import require_workspace
    from appliance.session.core import SessionOptions, open_session

    args.sandbox = require_workspace(args.sandbox, paths)  # issue 15: the one workspace check
    options = SessionOptions(
        task=f"exec {args.file}", policy_dir=args.policy_dir, sandbox=args.sandbox, mode="exec"
    )
    async with open_session(config, paths, options) as session:
        # A shipped server's tools are known without starting it; a declared one starts here,
        # while the sandbox finishes loading.
        catalog = [t.catalog_entry() for t in await session.servers.all_tools()]
        sandbox = await anyio.to_thread.run_sync(loading.result)
        from appliance.sandbox.code_mode import CodeExecutor

        startup.loaded()
        print(f"session {session.id} · sandbox {session.sandbox}", file=sys.stderr)
        return await run_stoppable(CodeExecutor(session.chokepoint, sandbox, catalog), code)


async def run_stoppable(executor: CodeExecutor, code: str) -> tuple[RunResult, bool]:
    """The run, and whether Ctrl-C stopped it. The event loop stays up until the run has ended,
    so a tool call the run makes meanwhile is refused by the executor, never sent to a loop that
    is closing (where it could wait forever and keep the process from exiting)."""
    interrupted = False

    async def watch(group: anyio.abc.TaskGroup) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                if interrupted:  # a second Ctrl-C: at once
                    executor.stop_now(INTERRUPTED)
                    continue
                interrupted = True
                executor.interrupt(INTERRUPTED)
                group.start_soon(executor.stop_after_grace, INTERRUPTED, executor.runs)

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group)
        result = await executor.run(code)
        group.cancel_scope.cancel()
    return result, interrupted


class _Loading:
    """``make_sandbox()`` running in a thread of its own; ``result()`` waits for it and returns
    the sandbox or raises what it raised."""

    def __init__(self) -> None:
        self._sandbox: Sandbox | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="sandbox-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            from appliance.sandbox.guest import make_sandbox

            self._sandbox = make_sandbox()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> Sandbox:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._sandbox is not None
        return self._sandbox
