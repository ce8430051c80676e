"""``ironcurtain start ["task"]``: a Code Mode session (or Docker Agent Mode with ``--agent``).

The agent works in the current folder when it is a reasonable workspace (``check_workspace``:
not home, ``/``, a system, credential or appliance folder…) and the command says so; otherwise in
a new ``sessions/ID/sandbox``, saying why. ``--sandbox`` names another folder; ``--resume`` goes
back to the folder the session worked in; Docker mode keeps a fresh folder unless ``--sandbox``
names one, since its agent's own shell works there with no policy in between.

With a task, the session runs it and exits when the agent is done; without one it is an
interactive conversation. ``--resume ID`` continues a session's conversation from its history.
On the first run (no config file and no provider key in the environment) ``setup`` runs first.

The first line is printed before anything heavy is imported, so the user sees at once that the
command started. Exit status: 0 finished, 1 model error (one task), 2 usage or configuration
error, 3 budget used up, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """\
The agent works in the current folder when it is a reasonable workspace (not your home, /, a
system or credential folder), and says so; otherwise in a new folder (sessions/ID/sandbox), and
says why. --sandbox FOLDER names another; --resume goes back to the session's folder (and, in
Claude Code's, to the agent's own conversation); Docker mode (--agent claude-code|codex) uses a
new folder unless --sandbox names one. Claude Code uses the configured Anthropic key, else the
Claude subscription it is logged in with (IRONCURTAIN_DOCKER_AUTH=apikey|oauth chooses); Codex
uses the configured OpenAI key. In Docker mode with --pty, Ctrl-] opens IronCurtain's prompt.
In a session: /approve N, /deny N, /budget, /logs, /retry, /model PROVIDER:MODEL, /quit.
Ctrl-C cancels the agent's current work; Ctrl-C again leaves. Every ending prints the session
id, the audit log and how to resume. Exit status: 0 finished, 1 model error (with a task),
2 usage or configuration error, 3 budget used up, 130 interrupted, 143 terminated."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("task", nargs="?", help="run this task and exit (default: interactive)")
    parser.add_argument("--resume", metavar="ID", help="continue the conversation of session ID")
    parser.add_argument("--agent", choices=["builtin", "claude-code", "codex"], default="builtin")
    parser.add_argument("--pty", action="store_true", help="Docker mode: attach to the agent's TUI")
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="this session's model: PROVIDER:MODEL for the builtin agent (as agentModelId), the "
        "agent's own name for it in Docker mode (Claude Code: opus, sonnet...; Codex: gpt-5...)",
    )
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument(
        "--sandbox",
        type=Path,
        metavar="FOLDER",
        help="an existing folder for the agent to work in (default: the current folder when it "
        "is a reasonable workspace, else a new sessions/ID/sandbox)",
    )
    parser.add_argument(
        "--job",
        metavar="NAME",
        help="run scheduled job NAME now, as its schedule would (its task unless one is given, "
        "its workspace, policy, budgets and escalation rule; `ironcurtain job run NAME` records "
        "the run)",
    )
    parser.add_argument("--session-id", help=argparse.SUPPRESS)  # a job run's id, chosen first


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
    problem = _job_problem(args) or sandbox_problem(args.sandbox)
    if problem is not None:
        print(f"ironcurtain start: {problem}", file=sys.stderr)
        return 2
    verb = f"resuming session {args.resume}" if args.resume else "starting a session"
    where = f" (agent works in {args.sandbox.resolve()})" if args.sandbox else ""
    print(f"ironcurtain: {verb}{where}…", file=sys.stderr, flush=True)

    from appliance.cli.setup import first_run_setup
    from appliance.config.paths import app_paths
    from appliance.config.settings import ConfigError, load_config

    paths = app_paths()
    try:
        status = first_run_setup(paths)
        if status is not None:
            return status
        config = load_config(paths)
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    if args.job:
        from appliance.daemon.jobs import JobError

        try:
            config = _as_job(args, config, paths)
        except JobError as exc:
            print(f"ironcurtain start: {exc}", file=sys.stderr)
            return 2
    return _run_session(args, config, paths)


def _job_problem(args: argparse.Namespace) -> str | None:
    if args.session_id and not args.job:
        return "--session-id is for job runs (--job NAME)"
    if not args.job:
        return None
    clash = [f for f, v in (("--resume", args.resume),
             ("--sandbox", args.sandbox), ("--policy-dir", args.policy_dir)) if v]  # fmt: skip
    if args.agent != "builtin":
        clash.append("--agent")
    if clash:
        return f"--job runs in the job's own workspace and policy: drop {', '.join(clash)}"
    return None


def _as_job(args: argparse.Namespace, config, paths):
    """Point ``args`` at job ``args.job`` and return the config with its budgets and deadline."""
    from appliance.daemon.jobs import JobStore

    store = JobStore(paths)
    job = store.get(args.job)
    args.task = args.task or job.task  # a task given (from Signal: `new NAME TASK`) replaces it
    args.sandbox = store.workspace(job)
    args.policy_dir = store.policy_dir(job)
    update = {"escalation_timeout_seconds": job.timeout_seconds()}
    if job.budget is not None:
        update["resource_budget"] = job.budget
    return config.model_copy(update=update)


def _run_session(args: argparse.Namespace, config, paths) -> int:
    problem = _resume_problem(args, paths) if args.resume else None
    if problem is not None:
        print(f"ironcurtain: {problem}", file=sys.stderr)
        return 2
    if args.agent != "builtin":
        if args.resume and args.sandbox is None:  # back to the folder it worked in
            args.sandbox = _recorded_workspace(paths, args.resume)
        return _docker(args, config, paths)
    if args.model:
        try:  # validated as the setting is: a wrong one names the option and the value
            config = config.model_copy(update={"agent_model_id": _model_id(args.model)})
        except ValueError as exc:
            print(f"ironcurtain: --model {args.model!r}: {exc}", file=sys.stderr)
            return 2
    from appliance.agent.loop import MissingKey, model_settings
    from appliance.host.workspace import require_workspace

    if args.sandbox is None and args.resume:
        args.sandbox = _recorded_workspace(paths, args.resume)
    if args.sandbox is None and not args.resume:
        args.sandbox = _current_folder(paths)
    else:
        args.sandbox = require_workspace(args.sandbox, paths)  # the one workspace check (issue 15)

    try:
        model = model_settings(config)
    except MissingKey as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    from appliance.agent.model_worker import start_early
    from appliance.agent.terminal import InputLines, Terminal

    start_early(model.model_id)  # the model client's process imports litellm meanwhile
    terminal = Terminal()
    interactive = args.task is None
    lines = None
    if interactive:
        # The prompt comes first: the session (servers, sandbox, litellm) opens while the user
        # types, instead of seconds of imports and start-up sitting in front of it.
        _before_prompt(args, config, paths, terminal)
        print("> ", end="", flush=True)
        lines = InputLines(_read_line, None, terminal, prompt_shown=True)
    return _run(args, config, paths, model, terminal, lines)


def _current_folder(paths) -> Path | None:
    """The current folder when it passes the workspace check, else None (a new session folder);
    either way one sentence says where the agent works and, if not here, why."""
    from appliance.host.workspace import WorkspaceRefused, check_workspace

    try:
        here = check_workspace(
            Path.cwd(), paths.home, protected=paths.protected_patterns(),
            own_sandboxes=paths.sessions,
        )  # fmt: skip
    except (WorkspaceRefused, OSError) as exc:
        why = exc.why if isinstance(exc, WorkspaceRefused) else f"cannot be read ({exc.strerror})"
        print(
            f"ironcurtain: the agent works in a new session folder, not the current folder: {why} "
            "(--sandbox FOLDER names one to use)",
            file=sys.stderr,
        )
        return None
    print(
        f"ironcurtain: the agent works in the current folder {here} (--sandbox FOLDER for another)",
        file=sys.stderr,
    )
    return here


def _resume_problem(args: argparse.Namespace, paths) -> str | None:
    """Why session ``args.resume`` cannot be resumed as asked, or None. A session is resumed
    in the mode it ran in (Code Mode's history, or the Docker agent's own conversation)."""
    missing = f"no session {args.resume!r} to resume (`ironcurtain sessions` lists them)"
    mode = _recorded_setting(paths, args.resume, "mode")
    if not isinstance(mode, str):
        return missing
    if mode.startswith("docker:"):
        agent = mode.removeprefix("docker:")
        if args.agent != agent:
            return f"session {args.resume} ran {agent} in Docker mode: add --agent {agent}"
        return None
    if args.agent != "builtin":
        return f"session {args.resume} is a Code Mode session: resume it without --agent"
    if not (paths.session_dir(args.resume) / "history.json").is_file():
        return missing
    return None


def _recorded_setting(paths, session_id: str, name: str) -> object:
    """One setting from a session's audit header (None when unreadable)."""
    try:
        with (paths.session_dir(session_id) / "audit.jsonl").open(encoding="utf-8") as log:
            return json.loads(log.readline())["settings"][name]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recorded_workspace(paths, session_id: str) -> Path | None:
    """The folder a session worked in, from its audit header; None for its own sandbox."""
    try:
        with (paths.session_dir(session_id) / "audit.jsonl").open(encoding="utf-8") as log:
            header = json.loads(log.readline())
        recorded = header["settings"]["sandbox"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(recorded, str):
        return None
    if not Path(recorded).is_dir():  # moved or removed: never silently re-created empty
        print(
            f"ironcurtain: the folder session {session_id} worked in, {recorded}, is gone; "
            "the agent works in the session's own folder (--sandbox FOLDER names another)",
            file=sys.stderr,
        )
        return None
    return Path(recorded)


def _before_prompt(args: argparse.Namespace, config, paths, terminal) -> None:
    """What must be read before typing: warnings about loosened settings, the resumed talk."""
    from appliance.agent.loop import transcript
    from appliance.config.settings import weakening_settings

    for sentence in weakening_settings(config):
        print(f"warning: {sentence}", file=sys.stderr)
    if args.resume:
        history = paths.session_dir(args.resume) / "history.json"
        try:
            terminal.transcript(transcript(json.loads(history.read_text())))
        except (OSError, ValueError) as exc:
            print(f"(the earlier conversation cannot be shown: {exc})", file=sys.stderr)


def _run(args, config, paths, model, terminal, lines) -> int:
    import anyio

    from appliance.agent.code_session import run_code_session
    from appliance.chokepoint.escalation import InteractivePrompt
    from appliance.session.core import SessionOptions

    prompt = None
    if lines is not None or sys.stdin.isatty():
        prompt = InteractivePrompt(sys.stdout, timeout_s=config.escalation_timeout_seconds)
    options = SessionOptions(
        task=args.task or "(interactive)",
        policy_dir=args.policy_dir,
        sandbox=args.sandbox,
        session_id=args.resume or args.session_id,
        interactive_channel=prompt,
        warned=lines is not None,
    )
    outcome = anyio.run(
        lambda: run_code_session(
            config,
            paths,
            options,
            model=model,
            terminal=terminal,
            first_message=args.task,
            read_line=_read_line if prompt is not None and lines is None else None,
            converse=lines is not None,
            lines=lines,
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

    from appliance.session.core import SessionOptions

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
            config, paths, options, agent=args.agent, task=args.task, pty=args.pty,
            model=args.model,
        )
    )  # fmt: skip


def _model_id(value: str) -> str:
    from appliance.config.models import Config

    return Config.model_validate({"agentModelId": value}).agent_model_id
