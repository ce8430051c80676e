"""A person approves an escalation by clicking in a real headless Chromium; the session's call
goes ahead, also while another process holds the console's connections open. Skipped (with the
reason) only where no ``chromium`` is installed."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from cdp import Browser, chromium_path
from daemon_rig import Rig, trequest, until
from slow_clients import handlers, held

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.bounded_http import MAX_CONNECTIONS
from appliance.daemon.run import Daemon, DaemonFiles

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium for the browser"),
]


async def _ask(rig: Rig, out: dict[str, Verdict]) -> None:
    request = trequest("b1", "sess-b", path="/home/u/report.txt")
    out["b1"] = await rig.channels["sess-b"].ask(request)


async def test_approve_by_clicking_in_chromium(rig: Rig, tmp_path: Path) -> None:
    daemon = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0)
    daemon.hub = rig.hub
    url = daemon.start()
    verdicts: dict[str, Verdict] = {}
    try:
        async with anyio.create_task_group() as group, Browser(tmp_path / "profile") as browser:
            group.start_soon(_ask, rig, verdicts)
            try:
                await browser.navigate(url)  # token in the URL -> cookie -> the page
                await browser.wait_for("!!document.getElementById('approve-1')")
                assert "/home/u/report.txt" in await browser.evaluate("document.body.innerText")
                assert "token=" not in await browser.evaluate("location.href")
                await browser.click("#approve-1")
                await browser.wait_for(
                    "(document.getElementById('notice')||{}).innerText === '[1] approved'"
                )
                with anyio.fail_after(5):
                    while "b1" not in verdicts:
                        await anyio.sleep(0.02)
            except BaseException:
                shot = await browser.screenshot(tmp_path / "console-failure.png")
                print(f"screenshot of the console at failure: {shot}")
                print(await browser.evaluate('location.href + "\\n" + document.body.innerText'))
                raise
    finally:
        daemon.stop()
    assert verdicts["b1"].approved and verdicts["b1"].by == "listener"
    (record,) = [r for r in daemon.hub.answers() if r["outcome"] != "refused"]
    assert record["channel"] == "web-console" and record["sessionId"] == "sess-b"


async def test_approve_in_chromium_while_connections_are_held(rig: Rig, tmp_path: Path) -> None:
    """A local process keeps 100 connections open with half a request head each, opening a new
    one for each the console closes (slowloris). The person's browser still gets the page and
    approves; the console's threads never pass its cap."""
    daemon = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0)
    daemon.hub = rig.hub
    url = daemon.start()
    assert daemon.console is not None
    verdicts: dict[str, Verdict] = {}
    most = 0
    try:
        with held(daemon.console, 100, reopen=True):
            async with anyio.create_task_group() as group, Browser(tmp_path / "p") as browser:
                group.start_soon(_ask, rig, verdicts)
                await browser.navigate(url)
                await browser.wait_for("!!document.getElementById('approve-1')")
                most = handlers(daemon.console)
                await browser.click("#approve-1")
                await browser.wait_for(
                    "(document.getElementById('notice')||{}).innerText === '[1] approved'"
                )
                most = max(most, handlers(daemon.console))
                await until(lambda: "b1" in verdicts)
    finally:
        daemon.stop()
    assert verdicts["b1"].approved and verdicts["b1"].by == "listener"
    assert 0 < most <= MAX_CONNECTIONS + 2, most
    reasons = [r["reason"] for r in daemon.hub.answers()]
    assert any("too many connections: the oldest unfinished one closed" in r for r in reasons)
