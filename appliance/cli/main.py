"""The ``ironcurtain`` command line.

Each command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs (or when its ``--help`` is asked for), so a
server started as ``ironcurtain serve filesystem`` pays for nothing it does not use.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.host import startup

# name -> (module, one-line help). Nested groups (policy, audit, ...) are handled by their module.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("appliance.cli.demo", "run a complete scripted session: no API key needed"),
    "start": ("appliance.cli.start", "start an agent session (interactive or one task)"),
    "exec": ("appliance.cli.exec_code", "run a Python snippet in the WebAssembly sandbox"),
    "policy": ("appliance.cli.policy_cmd", "check, show, test, diff and replay policies"),
    "serve": ("appliance.cli.serve", "run a shipped MCP server over stdio"),
    "confine": ("appliance.cli.confine", "run a declared MCP server under a confinement profile"),
    "servers": ("appliance.cli.servers_cmd", "list, add, remove and annotate MCP servers"),
    "mcp-proxy": ("appliance.cli.mcp_proxy", "serve all tools over stdio behind the policy"),
    "audit": ("appliance.cli.audit_cmd", "show or verify a session's audit log"),
    "escalation-listener": (
        "appliance.cli.listener",
        "approve or deny escalations of running sessions",
    ),
    "daemon": ("appliance.cli.daemon", "web console answering escalations of all sessions"),
    "signal": ("appliance.cli.signal_cmd", "pair the daemon with a Signal recipient"),
    "job": ("appliance.cli.job_cmd", "scheduled jobs the daemon runs (add, list, run, logs)"),
    "config": ("appliance.cli.config_cmd", "show or change the configuration"),
    "setup": ("appliance.cli.setup", "interactive first-run set-up"),
    "doctor": ("appliance.cli.doctor", "check the installation and explain each problem"),
    "sessions": ("appliance.cli.sessions", "list or clean up sessions"),
    "completion": (
        "appliance.cli.completion",
        "print a shell completion script (bash, zsh, fish)",
    ),
    "annotate-tools": ("appliance.cli.compile_cmd", "LLM: assign argument roles to tools"),
    "compile-policy": ("appliance.cli.compile_cmd", "LLM: compile the constitution to rules"),
    "refresh-lists": ("appliance.cli.compile_cmd", "LLM: refresh the dynamic lists"),
    "customize-policy": ("appliance.cli.compile_cmd", "LLM: write constitution-user.md"),
}


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcurtain",
        description="A secure runtime for AI agents: every tool call goes through one policy gate.",
    )
    parser.add_argument("--version", action="version", version=f"ironcurtain {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks (internal errors, model errors)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        if not _available(module_name):
            continue
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name, _command=name)
        # Only the chosen command's module is imported; the others only need their help line.
        if name == chosen:
            importlib.import_module(module_name).configure(command)
    return parser


_SHELL_PREFIX = "__shell:"


def _run_shell(args_list: list[str]) -> int:
    """A frozen appliance's stand-in for a confined server's ``/bin/sh``
    (``appliance.confinement.shell``): ``__shell:MODULE /bin/sh -c COMMAND``. Only the modules
    the confinement provides are run."""
    from appliance.confinement.shell import SHELL_MODULES

    module = args_list[0].removeprefix(_SHELL_PREFIX)
    if module not in SHELL_MODULES:
        print(f"ironcurtain: {module!r} is not a shell this appliance provides", file=sys.stderr)
        return 126
    return int(importlib.import_module(module).main(args_list[2:]))


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0].startswith(_SHELL_PREFIX):
        return _run_shell(args_list)
    if args_list and args_list[0] == "__model-worker":  # a session's model client process
        from appliance.agent.model_worker import serve

        return serve(args_list[1:])
    fresh = argv is None  # a new process: the ironcurtain command itself (not a nested call)
    if fresh:
        startup.entered()
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    if args.debug:
        os.environ["IRONCURTAIN_DEBUG"] = "1"  # read where errors are worded (sessions, models)
    module = importlib.import_module(args._module)
    if fresh:
        startup.loaded()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as exc:
        if args.debug:
            raise
        # A traceback is for whoever debugs the appliance, not for its user: one line, and how
        # to see more.
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]  # a task group's wrapper says nothing: name what failed
        print(
            f"ironcurtain {args._command}: internal error: {type(exc).__name__}: {exc}\n"
            "run again with `ironcurtain --debug ...` to see the traceback",
            file=sys.stderr,
        )
        return 1
    finally:
        if fresh:
            startup.ending()


def _closed_pipe() -> int:
    """The reader of our output went away (`policy show | head`): end quietly, as git does,
    with 141 (128 + SIGPIPE). Standard output is pointed at /dev/null so the interpreter's
    final flush does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141
