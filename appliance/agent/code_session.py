"""Code Mode, assembled: a session, the sandbox, the agent, and the terminal they talk through.

``run_code_session`` is what ``ironcurtain start`` and ``ironcurtain demo`` share: it opens the
session (servers, policy, audit), builds the tool catalogue and the sandbox, and runs the agent
over one task or an interactive conversation. Commands typed while the agent works (``/approve``,
``/deny``, ``/budget``, ``/logs``, ``/quit``) are handled at once, so an escalation can be
answered while the agent waits for it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import anyio.from_thread
import anyio.lowlevel

from appliance.agent import model_worker
from appliance.agent.control import HELP, Outcome, SessionControl
from appliance.agent.loop import (
    Agent,
    MissingKey,
    ModelError,
    ModelSettings,
    model_settings,
    system_prompt,
    transcript,
)
from appliance.agent.terminal import InputLines, Progress, Terminal
from appliance.chokepoint.escalation.display import neutralise_lines
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.sandbox.bridge import clean_catalog
from appliance.sandbox.code_mode import CodeExecutor
from appliance.session.budget import Budget
from appliance.session.core import Session, SessionOptions, open_session

if TYPE_CHECKING:
    from appliance.sandbox.sandbox import Sandbox

__all__ = [
    "MissingKey",
    "Outcome",
    "Terminal",
    "model_settings",
    "run_code_session",
]


async def run_code_session(
    config: Config,
    paths: AppPaths,
    options: SessionOptions,
    *,
    model: ModelSettings,
    terminal: Terminal,
    first_message: str | None,
    read_line: Callable[[], str | None] | None = None,
    sandbox_factory: Callable[[], Any] | None = None,
    converse: bool = True,
    lines: InputLines | None = None,
) -> Outcome:
    """Run a Code Mode session to its end; returns how it ended (the session is closed).

    With ``read_line`` the terminal is read for commands (``/approve``, ``/deny``, ``/quit`` …,
    answered at once); with ``converse`` too, the session goes on after the first message until
    ``/quit``, end of input or a second Ctrl-C. ``lines`` is an input reader whose ``> `` prompt
    the caller has already shown (``start`` does, before importing any of this): the session
    then opens while the user types, and says so only if the user has to wait for it.
    """
    early = lines is not None
    if lines is None and read_line is not None:
        lines = InputLines(read_line, None, terminal)
    run = SessionControl(terminal, options.interactive_channel, converse and lines is not None)
    run.token = anyio.lowlevel.current_token()
    if lines is not None:
        lines.handle = run.immediate
    ready = _Readiness()
    async with anyio.create_task_group() as background:
        background.start_soon(run.watch_signals)
        if early:
            background.start_soon(_progress_if_waited, terminal, lines, ready)
        try:
            session = await _run_session(
                run, config, paths, options, model, first_message, lines, sandbox_factory, ready
            )
        finally:
            background.cancel_scope.cancel()
    outcome = Outcome(session, run.ending or "finished", run.reason, _usage(run))
    _print_summary(outcome, terminal)
    return outcome


class _Readiness:
    """The session is open and the agent built. Whoever sets it first clears the progress line
    (synchronously, so nothing printed next can land on that line)."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.progress: Progress | None = None

    def set(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.event.set()


async def _progress_if_waited(terminal: Terminal, lines: InputLines, ready: _Readiness) -> None:
    """The prompt came before the session was open: show progress once the user waits for it."""
    while not ready.event.is_set() and not lines.pending():
        await anyio.sleep(0.03)
    if not ready.event.is_set():
        label = "starting the session (a first run compiles the sandbox)"
        ready.progress = terminal.progress(label, after=0)
        await ready.event.wait()


async def _run_session(
    run: SessionControl,
    config: Config,
    paths: AppPaths,
    options: SessionOptions,
    model: ModelSettings,
    first_message: str | None,
    lines: InputLines | None,
    sandbox_factory: Callable[[], Any] | None,
    ready: _Readiness,
) -> Session:
    quiet = lines is not None and lines.prompt_shown
    # The model client's process imports litellm (seconds) while the servers start.
    worker = model_worker.take(model.model_id)
    starting = None if quiet else run.terminal.progress("starting the tool servers")
    try:
        async with open_session(config, paths, options) as session:
            if starting is not None:
                starting.stop()
            run.session = session
            agent = await _make_agent(run, session, config, model, sandbox_factory, quiet, worker)
            ready.set()
            if agent is not None:
                if not quiet:
                    _header(session, run.terminal)
                    if options.session_id is not None:
                        run.terminal.transcript(transcript(agent.messages))
                await _drive(run, session, agent, config, options, first_message, lines)
            session.ending, session.reason = run.ending or "finished", run.reason
    finally:
        if starting is not None:
            starting.stop()
        worker.close()
    return session


async def _make_agent(run, session, config, model, factory, quiet, worker) -> Agent | None:
    terminal = run.terminal
    label = "loading the sandbox (a first run compiles it: ~10 s)"
    loading = None if quiet else terminal.progress(label)
    make = factory or (lambda: make_sandbox(terminal.err))
    found: dict[str, list] = {}

    async def tools() -> None:
        try:
            found["catalog"] = [t.catalog_entry() for t in await session.servers.all_tools()]
        except Exception as exc:  # raised as itself below, not wrapped in the group's
            found["failure"] = exc

    try:
        # The two slow parts of a start, side by side (as `exec` does): the servers start in
        # their own processes while a thread loads the sandbox (wasmtime's import, the guest).
        async with anyio.create_task_group() as group:
            group.start_soon(tools)
            sandbox = await run.wait(lambda: anyio.to_thread.run_sync(make))
            if sandbox is None:  # Ctrl-C or SIGTERM while it loaded: the servers need not list
                group.cancel_scope.cancel()
    finally:
        if loading is not None:
            loading.stop()
    if "failure" in found:
        raise found["failure"]
    if sandbox is None:
        return None
    catalog = clean_catalog(found["catalog"])  # the servers' word: checked once for both uses
    run.executor = CodeExecutor(session.chokepoint, sandbox, catalog)
    run.agent = Agent(
        model=model,
        execute=_uncancellable(run.executor),
        budget=Budget(config.resource_budget),
        system=system_prompt(catalog, str(session.sandbox)),
        history_path=session.history_path,
        report=terminal.report,
        on_usage=lambda budget: session.set_state(budget=budget.snapshot()),
        client=worker,
    )
    return run.agent


def _header(session: Session, terminal: Terminal) -> None:
    terminal.say(
        f"session {session.id} · sandbox {session.sandbox} · policy {session.policy.digest[:12]}"
    )


async def _drive(run, session, agent, config, options, first_message, lines) -> None:
    if first_message is not None:
        await _message(run, session, agent, first_message, options)
        if not run.converse:
            run.end("finished")
    if lines is not None and run.converse:
        await _conversation(run, session, agent, lines, config, options)


def _uncancellable(executor: CodeExecutor) -> Callable[[str], Awaitable[str]]:
    """A sandbox run is never cancelled half-way: a cancellation reaching a tool call made from
    inside wasmtime would unwind through its native frames. Ctrl-C denies the run's pending
    escalations and stops the run at its next tool call instead, and the turn stops at the next
    step."""

    async def execute(code: str) -> str:
        # A turn cancelled already (Ctrl-C during an earlier run of the same model message)
        # starts no further run: the shield below would let every remaining one go ahead.
        await anyio.lowlevel.checkpoint_if_cancelled()
        with anyio.CancelScope(shield=True):
            return await executor(code)

    return execute


async def _message(run: SessionControl, session: Session, agent: Agent, text: str, options) -> None:
    session.chokepoint.latest_user_message = text
    # Values the user typed (names, addresses, amounts) are granted for the task (issue 24).
    # With taskPlan on, an LLM first reads the message (and nothing else) into a checked plan.
    run.terminal.say(await session.chokepoint.grant_planned_task(text))
    if options.task == "(interactive)" and not run.titled:
        run.titled = True
        session.set_state(task=text[:200])  # `ironcurtain sessions` shows what it was about
    await _turn(run, agent, lambda: agent.send(text))


async def _turn(run: SessionControl, agent: Agent, work: Callable[[], Awaitable[str]]) -> None:
    try:
        answer = await run.turn(work)
    except ModelError as exc:
        run.terminal.say(f"model error: {exc}")
        if os.environ.get("IRONCURTAIN_DEBUG"):
            traceback.print_exception(exc.__cause__ or exc, file=run.terminal.err)
        if run.converse:
            run.terminal.say(
                "  /retry sends it again, /model PROVIDER:MODEL switches model, /quit leaves."
            )
        else:
            run.end("stopped", "model")
        return
    if answer is None and run.ending is None:
        run.terminal.say(
            "interrupted: the agent's work was cancelled. Type a message, /retry, "
            "or press Ctrl-C again (or /quit) to leave."
        )
    elif agent.stopped_by_budget:
        run.end("stopped", "budget")
    elif answer is not None and not run.terminal.verbose:
        print(neutralise_lines(answer), file=run.terminal.out, flush=True)


async def _conversation(run, session, agent, lines, config, options) -> None:
    terminal = run.terminal
    header_due = lines.prompt_shown  # said once the user has typed, never across their typing
    while run.ending is None:
        if not lines.prompt_shown:
            print("> ", end="", file=terminal.out, flush=True)
        lines.prompt_shown = False
        line = await run.wait(lines.next)
        if header_due and line is not None:
            header_due = False
            _header(session, terminal)
        if line is None:
            run.end("finished")
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            await _command(line, run, session, agent, config)
            continue
        await _message(run, session, agent, line, options)


async def _command(
    line: str, run: SessionControl, session: Session, agent: Agent, config: Config
) -> None:
    """A slash command between turns (the immediate ones were answered on the input thread)."""
    words = line.split()
    out = run.terminal.out
    if words[0] == "/quit":  # typed before the session was open: queued, not answered at once
        run.end("finished")
    elif words[0] == "/retry":
        last = next((m for m in reversed(agent.messages) if m.get("role") != "system"), None)
        if last is None or (last.get("role") == "assistant" and not last.get("tool_calls")):
            print("nothing to retry: the last turn ended with the agent's answer", file=out)
            return
        await _turn(run, agent, agent.resume)
    elif words[0] == "/model":
        if len(words) != 2:
            print(f"model: {agent.model.model_id}  (switch with /model PROVIDER:MODEL)", file=out)
            return
        try:
            agent.model = model_settings(config, words[1])
        except (MissingKey, ValueError) as exc:
            print(f"not switched: {exc}", file=out)
            return
        print(f"model: {words[1]} (/retry to send the last message to it)", file=out)
    elif words[0] in ("/approve", "/deny"):
        print("no escalation is waiting", file=out)
    else:
        print(HELP, file=out)


def _usage(run: SessionControl) -> str:
    return run.agent.budget.describe() if run.agent is not None else ""


def _print_summary(outcome: Outcome, terminal: Terminal) -> None:
    session = outcome.session
    what = outcome.ending if outcome.ending != "stopped" else f"stopped ({outcome.reason})"
    lines = [f"── session {session.id} {what}"]
    if outcome.usage:
        lines.append(f"   usage:  {outcome.usage}")
    lines.append(f"   audit:  {session.audit_path}")
    if session.history_path.exists():
        lines.append(f"   resume: ironcurtain start --resume {session.id}")
    terminal.say("\n" + "\n".join(lines))


def make_sandbox(err: TextIO = sys.stderr) -> Sandbox:
    """The installation's sandbox (``appliance.sandbox.guest.make_sandbox``), imported when
    called: wasmtime's import belongs on the thread that loads the sandbox."""
    from appliance.sandbox.guest import make_sandbox as make

    return make(err)
