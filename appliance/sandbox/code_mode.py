"""The bridge between the WebAssembly sandbox and the chokepoint.

The guest runs on a worker thread (wasmtime is synchronous); its one import, ``tools.call``, comes
back here and is handed to the chokepoint on the session's event loop, bounded by what is left of
the run's overall wall-clock limit: a call still in progress there (a human not answering, a
server not answering) is cut off and the run ends. Whatever the guest sends
is untrusted: a name that is not ``server.tool``, arguments that are not a JSON object, or a
payload over the size cap are refused before the chokepoint is even asked. The chokepoint
audits what it is asked, and the calls the bridge refused for naming a tool outside the
catalogue (a probe for tools leaves a trace). If the audit log fails, the run is stopped and
the session ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread

from appliance.chokepoint.trip import CallOutcome, Chokepoint, SessionStopped
from appliance.sandbox.deadline import stop_every_guest
from appliance.sandbox.limits import Limits, RunStopped
from appliance.sandbox.linking import run_seconds_left
from policy.api import JSONRefused
from policy.api import loads as safe_loads

if TYPE_CHECKING:
    from appliance.sandbox.sandbox import RunResult, Sandbox

__all__ = ["STOP_GRACE_SECONDS", "CodeExecutor"]

STOP_GRACE_SECONDS = 2.0  # after Ctrl-C, how long a run has to reach its next tool call


class CodeExecutor:
    def __init__(self, chokepoint: Chokepoint, sandbox: Sandbox, catalog: Sequence[dict[str, Any]]):
        self.chokepoint = chokepoint
        self.sandbox = sandbox
        self.catalog = list(catalog)
        self._stopped: SessionStopped | None = None
        self._running = False
        self._interrupted: str | None = None  # why the run in progress must stop
        self._call: anyio.CancelScope | None = None  # the tool call in progress, if any
        self.runs = 0  # runs started: which one a stop is for
        # One size limit per entry point: the one the sandbox's bridge enforces (it used to be
        # 4 MiB here behind the bridge's 1 MiB, so this check could never fire on its own).
        self._max_args_bytes = getattr(sandbox, "limits", Limits()).max_args_bytes

    async def __call__(self, code: str) -> str:
        return (await self.run(code)).to_agent_text()

    async def run(self, code: str) -> RunResult:
        self._running, self._interrupted = True, None
        self.runs += 1
        try:
            result = await anyio.to_thread.run_sync(self._run_in_thread, code)
        finally:
            self._running = False
        if self._stopped is not None:
            raise self._stopped
        return result

    def interrupt(self, reason: str) -> None:
        """Stop the run in progress at its next tool call (the user pressed Ctrl-C, typed /quit,
        or the session is ending): a run is never cancelled half-way, but from here on its code
        reaches no tool. The next run starts afresh. Called on the session's event loop."""
        if self._running:
            self._interrupted = reason

    def stop_now(self, reason: str, run: int | None = None) -> None:
        """Stop the run at once (Ctrl-C, when the run did not reach a tool call soon): the tool
        call in progress is cut off (audited as such, its escalation withdrawn), and guest code
        is stopped within a tick: every guest of this process, since the epoch that stops it is
        the engine's (``stop_every_guest``). The next run starts afresh. ``run``: the run
        (``runs`` when the user said stop) this is for; another one is left alone. Called on
        the event loop."""
        if not self._running or (run is not None and run != self.runs):
            return
        self.interrupt(reason)
        if self._call is not None:
            self._call.cancel()
        stop_every_guest(reason)

    async def stop_after_grace(self, reason: str, run: int) -> None:
        """:meth:`stop_now` for run ``run``, if it has not ended within the grace."""
        await anyio.sleep(STOP_GRACE_SECONDS)
        self.stop_now(reason, run)

    def _run_in_thread(self, code: str) -> RunResult:
        return self.sandbox.run(code, self.call_tool, self.catalog, on_refused=self.refused)

    def refused(self, name: str, arguments: dict[str, Any], reason: str) -> None:
        """A call the bridge refused for its name (a probe for tools): audited, never run.
        Once the run is interrupted, it ends here as at any other call."""
        if self._stopped is not None:
            raise RunStopped("the session has stopped")
        if self._interrupted is not None:
            raise RunStopped(self._interrupted)
        server, _, tool = name.partition(".")
        try:
            anyio.from_thread.run(
                self.chokepoint.refused, server, tool, arguments, "sandbox-unknown-tool", reason
            )
        except SessionStopped as exc:
            self._stopped = exc
            raise RunStopped("the session has stopped") from None
        except (anyio.RunFinishedError, CancelledError):
            raise RunStopped("the session has ended") from None

    def call_tool(self, name: str, args_json: str) -> tuple[bool, str]:
        """The guest's ``tools.call``: (ok, text) where text is the result or the refusal.
        Raises RunStopped (the guest traps) once the run is interrupted or the session stopped."""
        if self._stopped is not None:
            raise RunStopped("the session has stopped")
        if self._interrupted is not None:
            raise RunStopped(self._interrupted)
        server, dot, tool = name.partition(".")
        if not dot or not server or not tool:
            return False, f"ERROR: tool names look like server.tool, not {name[:80]!r}"
        try:
            # The bridge checked this already, with the same cap; a caller that is not the
            # bridge gets the same rule.
            arguments = safe_loads(args_json, max_bytes=self._max_args_bytes)
        except JSONRefused as exc:
            return False, f"ERROR: tool arguments {exc}"
        try:
            outcome = anyio.from_thread.run(
                self._call_within, run_seconds_left(), server, tool, arguments
            )
        except SessionStopped as exc:
            self._stopped = exc
            raise RunStopped("the session has stopped") from None
        except (anyio.RunFinishedError, CancelledError):
            # The event loop is ending under the run: the run ends here too.
            raise RunStopped("the session has ended") from None
        if outcome is None and self._interrupted is not None:
            raise RunStopped(self._interrupted)
        if outcome is None:
            raise RunStopped("a tool call still in progress was cut off there", run_limit=True)
        if not outcome.ok:
            return False, outcome.text
        return True, _value_for_guest(outcome.text, outcome.structured)

    async def _call_within(
        self, seconds: float, server: str, tool: str, arguments: Any
    ) -> CallOutcome | None:
        """The chokepoint's trip, or None when the run's wall-clock limit passed first (or
        :meth:`stop_now` cut it off): cancelled
        there, the trip is audited as cut off, its escalation withdrawn, its server request
        cancelled (MCP ``notifications/cancelled``), and nothing of it is left running here."""
        with anyio.CancelScope() as self._call, anyio.move_on_after(seconds):
            try:
                return await self.chokepoint.call(server, tool, arguments)
            finally:
                self._call = None
        return None


def _value_for_guest(text: str, structured: dict[str, Any] | None) -> str:
    """What the guest decodes: JSON text for structured content (it parses text that opens with
    ``{`` or ``[``), the plain text otherwise, and the bare text of ``{"content": "..."}``."""
    if structured is None or structured == {"inText": True}:  # large text is sent once
        return text
    if set(structured) == {"content"} and isinstance(structured["content"], str):
        return structured["content"]
    return json.dumps(structured, ensure_ascii=False)
