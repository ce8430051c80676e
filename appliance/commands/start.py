"""``ironcurtain start ["task"]``: a Code Mode session (or Docker Agent Mode with ``--agent``).

With a task, the session runs it and exits when the agent is done; without one it is an
interactive conversation. ``--resume ID`` continues a session's conversation from its history.
On the first run (no config file and no provider key in the environment) ``setup`` runs first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", nargs="?", help="run this task and exit (default: interactive)")
    parser.add_argument("--resume", metavar="ID", help="continue the conversation of session ID")
    parser.add_argument("--agent", choices=["builtin", "claude-code"], default="builtin")
    parser.add_argument("--pty", action="store_true", help="Docker mode: attach to the agent's TUI")
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument("--sandbox", type=Path, help="use this folder as the agent's sandbox")


def run(args: argparse.Namespace) -> int:
    import anyio

    from appliance.code_session import MissingKey, Terminal, model_settings, run_code_session
    from appliance.commands.setup import SetupCancelled, needs_setup, run_wizard
    from appliance.config import ConfigError, load_config
    from appliance.escalation import InteractivePrompt
    from appliance.paths import app_paths
    from appliance.session import SessionOptions
    from appliance.workspace import require_workspace

    paths = app_paths()
    try:
        if needs_setup(paths):
            print("No configuration yet: running `ironcurtain setup` first.\n", file=sys.stderr)
            run_wizard(paths)
        config = load_config(paths)
    except SetupCancelled:
        return 130
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    if args.resume and not (paths.session_dir(args.resume) / "history.json").is_file():
        print(f"ironcurtain: no session {args.resume!r} to resume", file=sys.stderr)
        return 2
    if args.agent != "builtin":
        return _docker(args, config, paths)
    args.sandbox = require_workspace(args.sandbox, paths)  # issue 15: the one workspace check
    try:
        model = model_settings(config)
    except MissingKey as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    terminal = Terminal()
    interactive = args.task is None
    prompt = None
    if interactive or sys.stdin.isatty():
        prompt = InteractivePrompt(sys.stdout, timeout_s=config.escalation_timeout_seconds)
    options = SessionOptions(
        task=args.task or "(interactive)",
        policy_dir=args.policy_dir,
        sandbox=args.sandbox,
        session_id=args.resume,
        interactive_channel=prompt,
    )
    anyio.run(
        lambda: run_code_session(
            config,
            paths,
            options,
            model=model,
            terminal=terminal,
            first_message=args.task,
            read_line=_read_line if prompt is not None else None,
            converse=interactive,
        )
    )
    return 0


def _read_line() -> str | None:
    try:
        return input()
    except EOFError:
        return None


def _docker(args: argparse.Namespace, config, paths) -> int:
    import anyio

    from appliance.session import SessionOptions

    try:
        from appliance.docker.run import run_docker_session
    except ImportError:
        print("ironcurtain: Docker Agent Mode is not available in this build", file=sys.stderr)
        return 2
    options = SessionOptions(
        task=args.task or "(interactive)",
        policy_dir=args.policy_dir,
        sandbox=args.sandbox,
        session_id=args.resume,
        mode=f"docker:{args.agent}",
    )
    return anyio.run(
        lambda: run_docker_session(
            config, paths, options, agent=args.agent, task=args.task, pty=args.pty
        )
    )
