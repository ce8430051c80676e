"""How a Code Mode session is steered and how it ends: Ctrl-C, SIGTERM, ``/quit``, a budget stop.

:class:`SessionControl` holds the turn in progress and the ending once one is decided. Ctrl-C
cancels the turn — the model request at once; a sandbox run is never cut half-way (its pending
escalations are denied so it ends soon) — and a second Ctrl-C, or one with no turn running, ends
the session. SIGTERM ends it as ``terminated``. Either way the session closes normally (servers
stopped, audit closed, state recorded), so it can be resumed. :class:`Outcome` is the ending as
the exit summary and the exit status see it.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread

from appliance.agent.loop import Agent
from appliance.agent.terminal import Terminal
from appliance.session.core import Session

__all__ = ["EXIT_CODES", "HELP", "Outcome", "SessionControl"]

# How a session ended -> the process's exit status (a budget stop is not a success).
EXIT_CODES = {"finished": 0, "interrupted": 130, "terminated": 143}
STOP_CODES = {"budget": 3, "model": 1}
HELP = (
    "commands: /approve N [similar], /deny N, /budget, /logs, /retry, /model PROVIDER:MODEL, "
    "/quit  (Ctrl-C cancels the agent's work; Ctrl-C again leaves)"
)


@dataclass
class Outcome:
    """How a Code Mode session ended, for the exit summary and the exit status."""

    session: Session
    ending: str  # finished | interrupted | terminated | stopped
    reason: str = ""  # for "stopped": budget | model
    usage: str = ""

    @property
    def exit_code(self) -> int:
        if self.ending == "stopped":
            return STOP_CODES.get(self.reason, 1)
        return EXIT_CODES.get(self.ending, 1)


class SessionControl:
    """One session's control: the turn in progress, and the ending once one is decided."""

    def __init__(self, terminal: Terminal, prompt: Any, converse: bool) -> None:
        self.terminal = terminal
        self.prompt = prompt
        self.converse = converse
        self.ending: str | None = None
        self.reason = ""
        self.session: Session | None = None
        self.agent: Agent | None = None
        self.executor: Any = None  # the sandbox's CodeExecutor: told to stop a run in progress
        self.token: Any = None
        self.titled = False  # the first message became the session's task text
        self._turn: anyio.CancelScope | None = None
        self._waiting: anyio.CancelScope | None = None

    def end(self, ending: str, reason: str = "") -> None:
        """Decide the ending (the first one stands) and stop whatever is running."""
        if self.ending is None:
            self.ending, self.reason = ending, reason
        self._deny_pending(f"the session is ending ({ending})")
        for scope in (self._turn, self._waiting):
            if scope is not None:
                scope.cancel()

    def interrupt(self) -> None:
        turn = self._turn
        if turn is None or turn.cancel_called or not self.converse:
            self.end("interrupted")
            return
        self._deny_pending("interrupted by the user")
        turn.cancel()  # _turn says so once the turn has unwound (its progress line cleared)

    async def turn(self, work: Callable[[], Awaitable[str]]) -> str | None:
        """Run one agent turn in a scope Ctrl-C can cancel; None when it was cancelled."""
        if self.ending is not None:
            return None
        try:
            with anyio.CancelScope() as self._turn:
                return await work()
            return None
        finally:
            self._turn = None

    async def wait(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Wait for input (or the sandbox's start) in a scope an ending cancels."""
        if self.ending is not None:
            return None
        try:
            with anyio.CancelScope() as self._waiting:
                return await work()
            return None
        finally:
            self._waiting = None

    async def watch_signals(self) -> None:
        async with anyio.create_task_group() as group:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if signum == signal.SIGTERM:
                        self.end("terminated")
                    else:
                        self.interrupt()
                    # the run stops at its next tool call; guest code that makes none (or a
                    # call still in progress) is stopped after a short grace
                    if (executor := self.executor) is not None:
                        group.start_soon(
                            executor.stop_after_grace, "interrupted by the user", executor.runs
                        )

    def immediate(self, line: str) -> str | None:
        """A command typed while the agent works (called on the input thread); None: queue it."""
        word = line.split()[0] if line.split() else ""
        if word in ("/approve", "/deny") and self.prompt is not None:
            return self.prompt.command(line)
        if word == "/budget":
            return self.agent.budget.describe() if self.agent else "the session is starting"
        if word == "/logs":
            return f"audit log: {self.session.audit_path}" if self.session else "starting"
        if word == "/quit":
            anyio.from_thread.run_sync(self.end, "finished", token=self.token)
            return "leaving: the session is being closed…"
        return None

    def _deny_pending(self, note: str) -> None:
        # The run in progress first: its code must make no further call (and so no new
        # escalation) once the user has said stop; a shielded run would otherwise go on.
        if self.executor is not None:
            self.executor.interrupt(note)
        deny = getattr(self.prompt, "deny_pending", None)
        if deny is not None:
            deny(note)
