"""The MCP client of ``ironcurtain mcp-proxy`` as one more approval channel.

While an escalated call waits, the client is told where to approve: one ``notifications/message``
(level ``warning``, the same line on the proxy's stderr) and, when the ``tools/call`` carried a
``_meta.progressToken``, a ``notifications/progress`` every few seconds (progress = seconds
waited, total = the escalation timeout). A client that declared the ``elicitation`` capability is
also asked through ``elicitation/create``: the server, tool and every path and URL in full, and a
boolean ``approve``.

Binding and failing closed: the elicitation is a request with a fresh id made for this one
escalation (and so for its call digest); only the response carrying that id, while the
escalation still waits, is read, and only ``{"action": "accept", "content": {"approve": true}}``
approves. ``approve: false`` is a person's denial. A decline, a cancel, an error, a malformed
answer or a client without elicitation is no answer from this channel: the others (the listener)
may still answer, and the timeout denies. An answer arriving after the escalation ended is
dropped by the server, unread.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, Protocol

import anyio

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict

__all__ = ["ClientChannel"]

log = logging.getLogger(__name__)

BY = "mcp-elicitation"
_SCHEMA = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Approve this call",
            "description": "true runs this one call; false refuses it",
        }
    },
    "required": ["approve"],
}


class Front(Protocol):
    """What the channel needs of the stdio server in front of the client."""

    client_capabilities: dict[str, Any]

    def notify(self, method: str, params: dict[str, Any]) -> None: ...
    def request(self, method: str, params: dict[str, Any]) -> tuple[str, Any]: ...
    def forget(self, request_id: str) -> None: ...


class ClientChannel:
    """Ask the MCP client; see the module docstring. ``attach`` the front once it exists."""

    def __init__(self, timeout_s: float, progress_every_s: float = 5.0) -> None:
        self._session_id = ""
        self._timeout = timeout_s
        self._every = progress_every_s
        self._front: Front | None = None

    def attach(self, front: Front, session_id: str) -> None:
        self._front, self._session_id = front, session_id

    def where(self, request: EscalationRequest) -> str:
        return (
            f"waiting for approval of {request.server}__{request.tool}: run `ironcurtain "
            f"escalation-listener` in another terminal (session {self._session_id}), or answer "
            "in this MCP client if it asks"
        )

    async def ask(self, request: EscalationRequest) -> Verdict:
        from servers.wire.server import CURRENT_CALL

        front = self._front
        if front is None:
            return Verdict.deny(BY, "no MCP client attached", failed=True)
        line = self.where(request)
        print(f"ironcurtain mcp-proxy: {line}", file=sys.stderr, flush=True)
        call = CURRENT_CALL.get()
        token = call.progress_token if call is not None else None
        with anyio.move_on_after(self._timeout):  # a client that stops reading cannot stall this
            warning = {"level": "warning", "logger": "ironcurtain", "data": line}
            await self._send(front, "notifications/message", warning)
            async with anyio.create_task_group() as group:
                if token is not None:
                    group.start_soon(self._progress, front, token, line)
                verdict = await self._elicit(front, request)
                if verdict is not None:
                    group.cancel_scope.cancel()
                    return verdict
                # No answer here: the progress goes on while the other channels may answer.
                await anyio.sleep_forever()
        return Verdict.deny(BY, f"no answer within {self._timeout:g} s", timed_out=True)

    async def _progress(self, front: Front, token: str | int, line: str) -> None:
        waited = 0.0
        while True:
            params = {"progressToken": token, "progress": waited, "total": self._timeout}
            await self._send(front, "notifications/progress", {**params, "message": line})
            await anyio.sleep(self._every)
            waited += self._every

    async def _elicit(self, front: Front, request: EscalationRequest) -> Verdict | None:
        """The client's verdict, or None for no answer (no capability, decline, anything odd)."""
        if not isinstance(front.client_capabilities.get("elicitation"), dict):
            return None
        params = {"message": _message(request), "requestedSchema": _SCHEMA}
        try:
            request_id, future = await anyio.to_thread.run_sync(
                front.request, "elicitation/create", params, abandon_on_cancel=True
            )
        except Exception:
            log.warning("cannot send the elicitation", exc_info=True)
            return None
        try:
            while not future.done():
                await anyio.sleep(0.05)
            return _verdict(future.result())
        finally:
            front.forget(request_id)  # a late answer finds nothing to approve
            if not future.done():  # answered elsewhere or timed out: withdraw the question
                cancel = {"requestId": request_id, "reason": "the escalation ended"}
                with anyio.move_on_after(1, shield=True):  # bounded: a stuck client stays stuck
                    await ClientChannel._send(front, "notifications/cancelled", cancel)

    @staticmethod
    async def _send(front: Front, method: str, params: dict[str, Any]) -> None:
        """Written from a worker thread: a client that stops reading must not stall the loop."""
        with contextlib.suppress(Exception):  # a gone client cannot be told; the timeout denies
            await anyio.to_thread.run_sync(front.notify, method, params, abandon_on_cancel=True)


def _verdict(message: Any) -> Verdict | None:
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict) or result.get("action") != "accept":
        return None  # decline, cancel, an error response, junk
    content = result.get("content")
    if not isinstance(content, dict) or set(content) != {"approve"}:
        return None
    if content["approve"] is True:
        return Verdict(approved=True, by=BY)
    if content["approve"] is False:
        return Verdict.deny(BY, "refused in the MCP client")
    return None  # "yes", 1, null: not a boolean, not an answer


def _message(request: EscalationRequest) -> str:
    lines = [f"IronCurtain: approve {request.server}__{request.tool}?", f"why: {request.reason}"]
    for role, values in request.targets.items():
        lines += [f"{role}: {value}" for value in values]
    if not request.targets:
        lines.append(f"arguments: {request.model_dump(mode='json')['arguments']}")
    lines.append(f"call digest: {request.call_digest}")
    return "\n".join(lines)
