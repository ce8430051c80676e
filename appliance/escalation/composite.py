"""Several channels at once (the session's prompt and the listener): the first answer wins.

Each channel is asked in its own task; the first verdict returned is the answer and the other
asks are cancelled, which withdraws their question (the file channel removes its request file,
the prompt drops its pending entry). An exception inside a channel is a denial.
"""

from __future__ import annotations

from typing import Protocol

import anyio

from appliance.escalation.models import EscalationRequest, Verdict

__all__ = ["Channel", "FirstAnswer"]


class Channel(Protocol):
    async def ask(self, request: EscalationRequest) -> Verdict: ...


class FirstAnswer:
    def __init__(self, *channels: Channel) -> None:
        if not channels:
            raise ValueError("FirstAnswer needs at least one channel")
        self._channels = channels

    async def ask(self, request: EscalationRequest) -> Verdict:
        answers: list[Verdict] = []
        async with anyio.create_task_group() as group:
            for channel in self._channels:
                group.start_soon(self._one, channel, request, answers, group.cancel_scope)
        if not answers:  # cannot happen unless every task was cancelled from outside
            return Verdict.deny("escalation", "no channel answered")
        return answers[0]

    @staticmethod
    async def _one(
        channel: Channel,
        request: EscalationRequest,
        answers: list[Verdict],
        scope: anyio.CancelScope,
    ) -> None:
        try:
            verdict = await channel.ask(request)
        except Exception as exc:
            verdict = Verdict.deny("escalation", f"channel failed: {type(exc).__name__}")
        if not answers:
            answers.append(verdict)
            scope.cancel()
