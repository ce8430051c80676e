"""The daemon end to end with two real sessions (real filesystem MCP server over stdio, the
shipped policy, real audit logs, the file channel alone): one escalation approved by clicking in
a real headless Chromium, one approved from the scripted signal-cli peer, one timing out and its
late Signal answer refused. The approved writes happen; the unanswered one does not."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import anyio
import pytest
from cdp import Browser, chromium_path
from daemon_rig import until
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.chokepoint.audit import verify_file
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.signal import SignalConfig
from appliance.session.core import SessionOptions, open_session

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium for the browser"),
]


def _calls(audit: Path) -> list[dict]:
    return [r for r in map(json.loads, audit.read_text().splitlines()) if r.get("type") == "call"]


async def test_two_sessions_console_signal_and_timeout(tmp_path: Path) -> None:
    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    config = Config(escalation_timeout_seconds=30, allowed_directories=(str(outside),))
    peer = SignalPeer()
    signal = SignalConfig(
        port=peer.port, account="+1555999", recipient=RECIPIENT, safety_number=SAFETY
    )
    daemon = Daemon(
        paths.registry, DaemonFiles(paths.home / "daemon"), "127.0.0.1", 0, signal, paths
    )
    results: dict[str, object] = {}
    async with contextlib.AsyncExitStack() as stack:
        sessions = {}
        for name in ("web", "phone"):
            options = SessionOptions(
                task=name, session_id=f"s-{name}", sandbox=tmp_path / f"sandbox-{name}"
            )
            (tmp_path / f"sandbox-{name}").mkdir()
            sessions[name] = await stack.enter_async_context(open_session(config, paths, options))
        url = daemon.start()
        stack.callback(peer.close)
        stack.callback(daemon.stop)

        async def write(name: str, file: str) -> None:
            args = {"path": str(outside / file), "content": name}
            results[file] = await sessions[name].chokepoint.call("filesystem", "write_file", args)

        browser = await stack.enter_async_context(Browser(tmp_path / "profile"))
        async with anyio.create_task_group() as group:
            group.start_soon(write, "web", "web.txt")
            group.start_soon(write, "phone", "phone.txt")
            await until(lambda: len(daemon.hub.pending()) == 2, 10)
            by_session = {p.request.session_id: p.short_id for p in daemon.hub.pending()}
            web_id, phone_id = by_session["s-web"], by_session["s-phone"]
            try:
                await browser.navigate(url)
                await browser.wait_for(f"!!document.getElementById('approve-{web_id}')")
                await browser.click(f"#approve-{web_id}")
                await browser.wait_for(
                    f"(document.getElementById('notice')||{{}}).innerText === '[{web_id}] approved'"
                )
            except BaseException:
                print(f"screenshot: {await browser.screenshot(tmp_path / 'e2e-failure.png')}")
                raise
            await until(lambda: any(f"escalation {phone_id}:" in m for m in peer.messages()), 10)
            peer.push(f"approve {phone_id}")
        # The third one nobody answers in time; the late answer from the phone is refused.
        sessions["phone"].chokepoint.escalation._timeout = 0.5
        await write("phone", "late.txt")
        late_id = str(int(max(web_id, phone_id, key=int)) + 1)
        await until(lambda: any(f"escalation {late_id}:" in m for m in peer.messages()), 10)
        peer.push(f"approve {late_id}")
        await until(lambda: any(m.startswith("refused: replayed") for m in peer.messages()), 10)
        # The session's audit trail, verified, and the active policy with its budgets.
        assert daemon.console is not None
        page = daemon.console.origin + daemon.console.base  # the path its cookie is kept for
        await browser.navigate(f"{page}session/s-phone")
        await browser.wait_for("!!document.getElementById('verify')")
        text = await browser.evaluate("document.body.innerText")
        assert "verified: " in text and "hash chain intact" in text
        assert "timeout by listener" in text and "approved by listener" in text
        await browser.navigate(f"{page}policy")
        await browser.wait_for("document.body.innerText.includes('escalate-write-elsewhere')")
        text = await browser.evaluate("document.body.innerText")
        assert "maxSteps\t200" in text and "anything no rule covers is denied" in text
        await browser.navigate(f"{page}session/..%2f..%2fetc")
        await browser.wait_for("document.body.innerText.includes('not found')")

    assert results["web.txt"].ok and (outside / "web.txt").read_text() == "web"  # type: ignore[attr-defined]
    assert results["phone.txt"].ok and (outside / "phone.txt").read_text() == "phone"  # type: ignore[attr-defined]
    assert not results["late.txt"].ok and not (outside / "late.txt").exists()  # type: ignore[attr-defined]
    for name, expected in (("web", ["approved"]), ("phone", ["approved", "timeout"])):
        audit = sessions[name].audit_path
        assert [r["escalation"]["outcome"] for r in _calls(audit)] == expected
        assert verify_file(audit).ok
    answers = [(r["channel"], r["sessionId"], r["outcome"]) for r in daemon.hub.answers()]
    assert ("web-console", "s-web", "approved") in answers
    assert ("signal", "s-phone", "approved") in answers
    assert answers[-1][0] == "signal" and answers[-1][2] == "refused"
