"""Chokepoint tests run the real shipped servers over stdio, the real engine and the shipped
policy, a real audit log; only the human is scripted (a channel that answers as told)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.session.core import Session, SessionOptions, open_session


class ScriptedHuman:
    """An approval channel that answers from a list and records what it was asked."""

    def __init__(self, *answers: Verdict) -> None:
        self.answers = list(answers)
        self.asked: list[EscalationRequest] = []

    async def ask(self, request: EscalationRequest) -> Verdict:
        self.asked.append(request)
        if not self.answers:
            return Verdict.deny("test", "no scripted answer left")
        return self.answers.pop(0)


@contextlib.asynccontextmanager
async def session_for(
    paths: AppPaths,
    sandbox: Path,
    channel=None,
    config: Config | None = None,
    **options,
) -> AsyncIterator[Session]:
    sandbox.mkdir(parents=True, exist_ok=True)
    opts = SessionOptions(task="test", sandbox=sandbox, interactive_channel=channel, **options)
    async with open_session(config or Config(escalation_timeout_seconds=5), paths, opts) as s:
        yield s
