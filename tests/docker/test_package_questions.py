"""An unlisted package (packageInstall defaultAction escalate) is a question of the session: the
real session's file channel, asked from another event loop (as the credential proxy's thread
asks), answered by the real escalation listener; a refusal and a timeout refuse."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.escalation.listener import Listener
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.credproxy.packages import PackageRequest
from appliance.docker.package_questions import package_asker
from appliance.session.core import SessionOptions, open_session

pytestmark = pytest.mark.anyio

LEFT_PAD = PackageRequest("npm", "left-pad", "listing")


def _answer_when_asked(paths: AppPaths, command: str, shown: list[str]) -> threading.Thread:
    def run() -> None:
        listener = Listener(paths.registry, shown.append)
        deadline = time.monotonic() + 10
        while not listener.pending and time.monotonic() < deadline:
            time.sleep(0.05)
            listener.refresh()
        listener.handle(command)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def _ask(tmp_path: Path, command: str | None, timeout: int = 10) -> tuple:
    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    options = SessionOptions(task="t", sandbox=tmp_path / "sandbox")
    shown: list[str] = []
    config = Config(escalation_timeout_seconds=timeout)
    async with open_session(config, paths, options) as session:
        ask = package_asker(session)
        answerer = _answer_when_asked(paths, command, shown) if command else None
        # The proxy's own loop, in its own thread, as mitmproxy runs it.
        answer = await anyio.to_thread.run_sync(lambda: asyncio.run(ask(LEFT_PAD)))
        if answerer is not None:
            answerer.join(5)
        left = list((Path(session.dir) / "escalations").iterdir())
    return answer, "\n".join(shown), left


async def test_the_listener_approves_an_unlisted_package(tmp_path: Path) -> None:
    (approved, by), shown, left = await _ask(tmp_path, "/approve 1")
    assert approved and by == "approved by listener"
    assert "[1] packages/install" in shown and "npm:left-pad" in shown
    assert "not on packageInstall.allowedPackages" in shown
    assert left == []  # no open question left behind


async def test_the_listener_refuses_and_silence_refuses(tmp_path: Path) -> None:
    (approved, by), _, _ = await _ask(tmp_path / "a", "/deny 1")
    assert not approved and by == "denied by listener"
    (approved, by), _, left = await _ask(tmp_path / "b", None, timeout=5)  # the least
    assert not approved and by == "timeout by listener" and left == []
