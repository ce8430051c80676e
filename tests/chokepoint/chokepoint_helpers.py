"""Chokepoint tests run the real shipped servers over stdio, the real engine and the shipped
policy, a real audit log; only the human is scripted (a channel that answers as told)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.session import core
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


class Approves:
    """An approval channel that approves every escalation at once."""

    async def ask(self, request: EscalationRequest) -> Verdict:
        return Verdict(approved=True, by="user")


@contextlib.asynccontextmanager
async def local_sites_session(tmp_path: Path, human: Any) -> AsyncIterator[Session]:
    """A session in ``tmp_path`` (sandbox/, home/; docs/ an allowed directory outside the sandbox,
    so a write there escalates) whose fetch server may reach loopback sites
    (``--allow-private-addresses``: tests/servers/loopback.py); 30 s to answer an escalation.
    ``human``: "approves" (at once), "silent" (the session's file channel only, nobody answers)
    or a channel of the test's own."""
    config = Config(escalation_timeout_seconds=30, allowed_directories=(str(tmp_path / "docs"),))
    sandbox = tmp_path / "sandbox"
    specs = [
        dataclasses.replace(s, args=(*s.args, "--allow-private-addresses"))
        if s.name == "fetch"
        else s
        for s in core.server_specs(config, sandbox)
    ]
    channel = Approves() if human == "approves" else None if human == "silent" else human
    options = SessionOptions(task="test", sandbox=sandbox, interactive_channel=channel)
    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    async with open_session(config, paths, options, specs) as opened:
        yield opened
