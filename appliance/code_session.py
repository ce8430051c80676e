"""Code Mode, assembled: a session, the sandbox, the agent, and the terminal they talk through.

``run_code_session`` is what ``ironcurtain start`` and ``ironcurtain demo`` share: it opens the
session (servers, policy, audit), builds the tool catalogue and the sandbox, and runs the agent
over one task or an interactive conversation. Commands typed while the agent works (``/approve``,
``/deny``, ``/budget``, ``/logs``, ``/quit``) are handled at once, so an escalation can be
answered while the agent waits for it.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import anyio

from appliance.agent import Agent, ModelSettings, system_prompt
from appliance.budget import Budget, BudgetLimits
from appliance.code_mode import CodeExecutor
from appliance.config import PROVIDER_ENV, Config
from appliance.paths import AppPaths
from appliance.session import Session, SessionOptions, open_session

__all__ = ["Terminal", "budget_limits", "model_settings", "run_code_session"]


class MissingKey(Exception):
    pass


def model_settings(config: Config) -> ModelSettings:
    settings = ModelSettings.for_model(config, config.agent_model_id)
    if not settings.api_key and not settings.api_base:
        provider = config.agent_model_id.partition(":")[0]
        variable = PROVIDER_ENV.get(
            "google" if provider == "gemini" else provider, "the provider's API key variable"
        )
        raise MissingKey(
            f"no API key for {provider!r} (model {config.agent_model_id}). Set {variable}, or "
            "run `ironcurtain setup` / `ironcurtain config set` to store one. "
            "To try the appliance without a key, run `ironcurtain demo`."
        )
    return settings


def budget_limits(config: Config) -> BudgetLimits:
    b = config.resource_budget
    return BudgetLimits(
        max_total_tokens=b.max_total_tokens,
        max_steps=b.max_steps,
        max_session_seconds=b.max_session_seconds,
        max_estimated_cost_usd=b.max_estimated_cost_usd,
    )


@dataclass
class Terminal:
    """Where the session talks to the user. Tests and the demo pass their own streams."""

    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    verbose: bool = True

    def report(self, kind: str, text: str) -> None:
        if kind == "thinking":
            print("· thinking…", file=self.err, flush=True)
        elif kind == "code":
            print(_indent("▶ code", text), file=self.out, flush=True)
        elif kind == "result":
            shown = text if self.verbose or len(text) < 2000 else text[:2000] + "\n[…]"
            print(_indent("◀ result", shown), file=self.out, flush=True)
        elif kind == "assistant":
            print(f"\nagent: {text}\n", file=self.out, flush=True)
        else:
            print(f"[{kind}] {text}", file=self.err, flush=True)


def _indent(title: str, text: str) -> str:
    return title + "\n" + "\n".join("    " + line for line in text.splitlines())


class InputLines:
    """Reads the terminal on a daemon thread so that ``/approve`` and ``/deny`` work while the
    agent is busy (an escalation waits for them); every other line is queued for the session."""

    def __init__(self, read_line: Callable[[], str | None], prompt: Any, terminal: Terminal):
        self._read_line = read_line
        self._prompt = prompt
        self._terminal = terminal
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, name="terminal-input", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                line = self._read_line()
            except (EOFError, OSError):
                line = None
            if line is None:
                self._queue.put(None)
                return
            answer = self._prompt.command(line.strip()) if self._prompt is not None else None
            if answer is not None:
                print(answer, file=self._terminal.out, flush=True)
            else:
                self._queue.put(line)

    async def next(self) -> str | None:
        return await anyio.to_thread.run_sync(self._queue.get, abandon_on_cancel=True)


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
) -> Session:
    """Run a Code Mode session; returns the (closed) session for the caller's summary.

    With ``read_line`` the terminal is read for ``/approve`` and ``/deny``; with ``converse`` too,
    the session goes on after the first message until ``/quit`` or end of input.
    """
    lines = None
    if read_line is not None:
        lines = InputLines(read_line, options.interactive_channel, terminal)
    async with open_session(config, paths, options) as session:
        catalog = [t.catalog_entry() for t in await session.servers.all_tools()]
        sandbox = sandbox_factory() if sandbox_factory else make_sandbox(terminal.err)
        executor = CodeExecutor(session.chokepoint, sandbox, catalog)
        agent = Agent(
            model=model,
            execute=executor,
            budget=Budget(budget_limits(config)),
            system=system_prompt(catalog, str(session.sandbox)),
            history_path=session.history_path,
            report=terminal.report,
        )
        print(
            f"session {session.id} · sandbox {session.sandbox} · "
            f"policy {session.policy.digest[:12]}",
            file=terminal.err,
        )
        if first_message is not None:
            session.chokepoint.latest_user_message = first_message
            answer = await agent.send(first_message)
            if not terminal.verbose:
                print(answer, file=terminal.out)
        if lines is not None and converse:
            await _conversation(session, agent, terminal, lines)
        return session


async def _conversation(session: Session, agent: Agent, terminal: Terminal, lines) -> None:
    while True:
        print("> ", end="", file=terminal.out, flush=True)
        line = await lines.next()
        if line is None:
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if _command(line, session, agent, terminal):
                return
            continue
        session.chokepoint.latest_user_message = line
        await agent.send(line)


def _command(line: str, session: Session, agent: Agent, terminal: Terminal) -> bool:
    """Handle a slash command between turns; True means quit."""
    word = line.split()[0]
    if word == "/quit":
        return True
    if word == "/budget":
        print(agent.budget.describe(), file=terminal.out)
    elif word == "/logs":
        print(f"audit log: {session.audit_path}", file=terminal.out)
    elif word in ("/approve", "/deny"):
        print("no escalation is waiting", file=terminal.out)
    else:
        print("commands: /approve N [similar], /deny N, /budget, /logs, /quit", file=terminal.out)
    return False


def make_sandbox(err: TextIO = sys.stderr) -> Any:
    """The sandbox with the guest this installation ships; in a source checkout the guest is
    built first when it is missing or older than its sources (a fresh clone's first run)."""
    import os

    from appliance.sandbox import Sandbox

    if not getattr(sys, "frozen", False) and not os.environ.get("IRONCURTAIN_GUEST_WASM"):
        from wasm_guest import build

        if not build.is_current():
            print("building the sandbox guest (once; about a minute)…", file=err, flush=True)
            build.ensure_built()
    return Sandbox()
