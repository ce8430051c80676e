"""``ironcurtain start ["task"]``: a Code Mode session (or Docker Agent Mode with ``--agent``).

With a task, the session runs it and exits when the agent is done; without one it is an
interactive conversation. ``--resume ID`` continues a session's conversation from its history.
On the first run (no config file and no provider key in the environment) ``setup`` runs first.

The first line is printed before anything heavy is imported, so the user sees at once that the
command started. Exit status: 0 finished, 1 model error (one task), 2 usage or configuration
error, 3 budget used up, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
The agent works in a new folder per session (sessions/ID/sandbox) unless --sandbox names one.
In a session: /approve N, /deny N, /budget, /logs, /retry, /model PROVIDER:MODEL, /quit.
Ctrl-C cancels the agent's current work; Ctrl-C again leaves. Every ending prints the session
id, the audit log and how to resume. Exit status: 0 finished, 1 model error (with a task),
2 usage or configuration error, 3 budget used up, 130 interrupted, 143 terminated."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("task", nargs="?", help="run this task and exit (default: interactive)")
    parser.add_argument("--resume", metavar="ID", help="continue the conversation of session ID")
    parser.add_argument("--agent", choices=["builtin", "claude-code"], default="builtin")
    parser.add_argument("--pty", action="store_true", help="Docker mode: attach to the agent's TUI")
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument(
        "--sandbox",
        type=Path,
        metavar="FOLDER",
        help="an existing folder for the agent to work in (default: a new sessions/ID/sandbox)",
    )


def sandbox_problem(folder: Path | None) -> str | None:
    """Why ``--sandbox`` cannot be used, or None. A missing folder is not created: a typo must
    not become an empty workspace the agent then works in."""
    if folder is None:
        return None
    if not folder.exists():
        return f"--sandbox {folder}: no such folder (create it first, or leave --sandbox out)"
    if not folder.is_dir():
        return f"--sandbox {folder}: this is a file, not a folder; name the folder to work in"
    return None


def run(args: argparse.Namespace) -> int:
    problem = sandbox_problem(args.sandbox)
    if problem is not None:
        print(f"ironcurtain start: {problem}", file=sys.stderr)
        return 2
    where = args.sandbox.resolve() if args.sandbox else "a new session folder"
    verb = f"resuming session {args.resume}" if args.resume else "starting a session"
    print(f"ironcurtain: {verb} (agent works in {where})…", file=sys.stderr, flush=True)

    from appliance.commands.setup import first_run_setup
    from appliance.config import ConfigError, load_config
    from appliance.paths import app_paths

    paths = app_paths()
    try:
        status = first_run_setup(paths)
        if status is not None:
            return status
        config = load_config(paths)
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    return _run_session(args, config, paths)


def _run_session(args: argparse.Namespace, config, paths) -> int:
    import anyio

    from appliance.code_session import MissingKey, Terminal, model_settings, run_code_session
    from appliance.escalation import InteractivePrompt
    from appliance.session import SessionOptions

    if args.resume and not (paths.session_dir(args.resume) / "history.json").is_file():
        print(f"ironcurtain: no session {args.resume!r} to resume", file=sys.stderr)
        return 2
    if args.agent != "builtin":
        return _docker(args, config, paths)
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
    outcome = anyio.run(
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
    return outcome.exit_code


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
