"""Several channels at once (the session's prompt and the listener): the first answer wins.

Each channel is asked in its own task. The first verdict a person gave (approve or deny) is the
answer, and the other asks are cancelled, which withdraws their question (the file channel
removes its request file, the prompt drops its pending entry). A channel that times out or
breaks (an exception is a break) leaves the others asking; if none gets an answer, the first
timeout or failure is returned, which denies.
"""

from __future__ import annotations

from typing import Protocol

import anyio
import anyio.abc

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict

__all__ = ["Channel", "FirstAnswer"]


class Channel(Protocol):
    async def ask(self, request: EscalationRequest) -> Verdict: ...


class FirstAnswer:
    def __init__(self, *channels: Channel) -> None:
        if not channels:
            raise ValueError("FirstAnswer needs at least one channel")
        self._channels = channels

    async def ask(self, request: EscalationRequest) -> Verdict:
        answered: list[Verdict] = []
        unanswered: list[Verdict] = []
        async with anyio.create_task_group() as group:
            for channel in self._channels:
                group.start_soon(self._one, channel, request, answered, unanswered, group)
        if answered:
            return answered[0]
        # No person answered anywhere: report the first timeout or failure (all of them deny).
        return unanswered[0] if unanswered else Verdict.deny("escalation", "no channel answered")

    @staticmethod
    async def _one(
        channel: Channel,
        request: EscalationRequest,
        answered: list[Verdict],
        unanswered: list[Verdict],
        group: anyio.abc.TaskGroup,
    ) -> None:
        try:
            verdict = await channel.ask(request)
        except Exception as exc:
            note = f"channel failed: {type(exc).__name__}"
            verdict = Verdict.deny("escalation", note, failed=True)
        if not verdict.answered:
            unanswered.append(verdict)  # the other channels keep asking
        elif not answered:
            answered.append(verdict)
            group.cancel_scope.cancel()
