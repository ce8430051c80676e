"""The chokepoint behind an MCP server front: the tools of every configured server, named
``SERVER__TOOL``, each call handed from the front's worker threads to the chokepoint on the
session's event loop. Used by ``ironcurtain mcp-proxy`` (stdio) and Docker mode's gate socket.
After ``SessionStopped`` (the audit log failed) every later call is refused without reaching
the chokepoint, and ``on_stopped`` is told once.

A client's ``notifications/cancelled`` for a call (``servers.wire.cancel``) reaches the trip: it
runs in a cancel scope of its own on the loop, which the cancellation cancels, so it is cut off
as any cancelled trip is (audited ``status: cut-off``, a question still waiting withdrawn, the
server's request cancelled) before the front's worker lets the call go unanswered."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from servers.wire import cancel
from servers.wire.cancel import CallCancelled
from servers.wire.server import Tool, ToolResult

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from appliance.chokepoint.trip import CallOutcome

__all__ = ["SEPARATOR", "ChokepointCalls"]

SEPARATOR = "__"
_STOPPED_TEXT = "DENIED: the session has stopped; no further tool calls are possible"


class Mediator(Protocol):
    """What a front needs of the chokepoint: ``appliance.chokepoint.trip.Chokepoint.call``."""

    async def call(self, server: str, tool: str, arguments: Any) -> CallOutcome: ...


class ChokepointCalls:
    """Hands the gate's tool calls (from its threads) to the chokepoint on the session's loop.
    After `SessionStopped` every later call is refused without reaching the chokepoint."""

    def __init__(
        self, chokepoint: Mediator, portal: BlockingPortal, on_stopped: Callable[[str], None]
    ) -> None:
        self._chokepoint = chokepoint
        self._portal = portal
        self._on_stopped = on_stopped
        self._stopped = threading.Event()

    def call(self, server: str, tool: str, arguments: Any) -> ToolResult:
        from appliance.chokepoint.trip import SessionStopped

        if self._stopped.is_set():
            return ToolResult(_STOPPED_TEXT, is_error=True)
        try:
            outcome = self._trip(server, tool, arguments)
        except SessionStopped as exc:
            self._stopped.set()
            print(f"ironcurtain: stopping the session: {exc}", file=sys.stderr, flush=True)
            self._on_stopped(str(exc))
            return ToolResult(_STOPPED_TEXT, is_error=True)
        return ToolResult(outcome.text, outcome.structured, is_error=not outcome.ok)

    def _trip(self, server: str, tool: str, arguments: Any) -> CallOutcome:
        """The chokepoint's trip on the loop; cut off there if the client cancels the call, and
        then, once it is audited, CallCancelled (the front sends no answer)."""
        trip = _Cancellable()
        call = self._chokepoint.call
        future = self._portal.start_task_soon(trip.run, call, server, tool, arguments)
        woken = threading.Event()
        future.add_done_callback(lambda _done: woken.set())
        # The hook runs on the front's reading thread and must be quick: it only wakes this one.
        with cancel.on_cancel(woken.set):
            woken.wait()
        if not future.done():
            # A portal already stopping (the session closing) refuses calls; its trips end with it.
            with contextlib.suppress(RuntimeError):
                self._portal.call(trip.cancel)
        outcome = future.result()  # after a cut-off: once the trip is audited and over
        if outcome is None:
            raise CallCancelled("the client cancelled the call")
        return outcome

    def unknown(self, name: str, arguments: Any) -> ToolResult:
        """A name no server offers: the chokepoint denies it and, unlike a bare MCP server,
        audits it (a hostile agent probing for tools leaves a trace)."""
        server, _, tool = name.partition(SEPARATOR)
        return self.call(server, tool, arguments)

    def tools(self, infos: list[Any]) -> list[Tool]:
        def handler(server: str, tool: str) -> Callable[[dict], ToolResult]:
            return lambda arguments: self.call(server, tool, arguments)

        return [
            Tool(
                f"{info.server}{SEPARATOR}{info.name}",
                info.description,
                info.input_schema,
                handler(info.server, info.name),
            )
            for info in infos
        ]


class _Cancellable:
    """One trip in a cancel scope of its own on the loop: :meth:`cancel` (on the loop too) cuts it
    off, before it starts or while it runs; :meth:`run` then answers None. A cancellation from
    elsewhere (the portal or the session closing) still propagates."""

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False

    async def run(
        self, trip: Callable[[str, str, Any], Awaitable[CallOutcome]], *args: Any
    ) -> CallOutcome | None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._cancelled:
                scope.cancel()
            return await trip(*args)
        return None  # this scope's own cancellation, caught by it: the trip was cut off

    def cancel(self) -> None:
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()
