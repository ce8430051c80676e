"""The chokepoint behind an MCP server front: the tools of every configured server, named
``SERVER__TOOL``, each call handed from the front's worker threads to the chokepoint on the
session's event loop. Used by ``ironcurtain mcp-proxy`` (stdio) and Docker mode's gate socket.
After ``SessionStopped`` (the audit log failed) every later call is refused without reaching
the chokepoint, and ``on_stopped`` is told once."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

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
            outcome = self._portal.call(self._chokepoint.call, server, tool, arguments)
        except SessionStopped as exc:
            self._stopped.set()
            print(f"ironcurtain: stopping the session: {exc}", file=sys.stderr, flush=True)
            self._on_stopped(str(exc))
            return ToolResult(_STOPPED_TEXT, is_error=True)
        return ToolResult(outcome.text, outcome.structured, is_error=not outcome.ok)

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
