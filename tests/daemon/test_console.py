"""The web console over real HTTP: token on every request, CSRF and Host/Origin checks, and an
approval that reaches a session's real file channel."""

from __future__ import annotations

import stat
from pathlib import Path

import anyio
import httpx
import pytest
from daemon_rig import Rig, trequest

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon, DaemonFiles

pytestmark = pytest.mark.anyio


def _client(daemon: Daemon) -> httpx.AsyncClient:
    assert daemon.console is not None
    return httpx.AsyncClient(base_url=daemon.console.origin, follow_redirects=False)


async def _log_in(client: httpx.AsyncClient, daemon: Daemon) -> None:
    """Log in; from then on the client's relative paths are under the console's path."""
    assert daemon.console is not None
    base = daemon.console.base
    reply = await client.get(f"/?token={daemon.console.token}")
    assert reply.status_code == 303 and reply.headers["location"] == base
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={base}" in cookie
    client.base_url = client.base_url.join(base)


async def test_every_request_without_the_token_is_401_and_audited(daemon: Daemon) -> None:
    """Each is refused; each reason is audited the 1st, 10th, 100th ... time (any web page can
    send these: an ``<img>`` pointing at loopback), with the request that made the record."""
    async with _client(daemon) as client:
        for path in ("/", "/answer", "/favicon.ico", "/?token=not-the-token"):
            assert (await client.get(path)).status_code == 401, path
        assert (await client.post("answer", data={"id": "1"})).status_code == 401
        for n in range(150):
            assert (await client.get(f"/flood{n}")).status_code == 401
    assert [r["reason"] for r in daemon.hub.answers()] == [
        "missing or bad token (GET /; 1 this run)",
        "bad token (GET /; 1 this run)",
        "missing or bad token (GET /flood5; 10 this run)",
        "missing or bad token (GET /flood95; 100 this run)",
    ]
    assert all(r["channel"] == "web-console" for r in daemon.hub.answers())


async def test_token_file_is_private_and_removed_on_stop(rig: Rig, tmp_path: Path) -> None:
    running = Daemon(rig.registry, DaemonFiles(tmp_path / "d2"), "127.0.0.1", 0)
    running.start()
    token_file = running.files.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert running.console is not None and token_file.read_text().strip() == running.console.token
    running.stop()
    assert not token_file.exists()


def test_non_loopback_host_is_refused(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a loopback"):
        Daemon(rig.registry, DaemonFiles(tmp_path / "d3"), "0.0.0.0", 0)


async def _ask(rig: Rig, session: str, request_id: str, out: dict[str, Verdict]) -> None:
    request = trequest(request_id, session, path=f"/home/u/{session}.txt")
    out[request_id] = await rig.channels[session].ask(request)


async def _wait_shown(client: httpx.AsyncClient, marker: str) -> str:
    with anyio.fail_after(5):
        while True:
            page = (await client.get("")).text
            if marker in page:
                return page
            await anyio.sleep(0.05)


async def test_csrf_and_foreign_origin_refused_then_approval_lands(
    rig: Rig, daemon: Daemon
) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-a", "c1", verdicts)
        async with _client(daemon) as client:
            await _log_in(client, daemon)
            page = await _wait_shown(client, 'id="approve-1"')
            assert "/home/u/sess-a.txt" in page
            (item,) = daemon.hub.pending()
            form = {"id": "1", "decision": "approve", "digest": item.request.call_digest}
            # A cross-site form cannot know the token; a foreign Origin or Host is refused.
            assert (await client.post("answer", data=form)).status_code == 401
            token = daemon.console.token if daemon.console else ""
            signed = {**form, "csrf": token}
            evil = {"Origin": "http://evil.example"}
            assert (await client.post("answer", data=signed, headers=evil)).status_code == 401
            rebound = {"Host": f"evil.example:{daemon.console.port if daemon.console else 0}"}
            assert (await client.post("answer", data=signed, headers=rebound)).status_code == 401
            assert daemon.hub.pending(), "nothing was answered by the refused posts"
            reply = await client.post("answer", data=signed)
            assert reply.status_code == 303
            shown = await client.get(daemon.console.origin + reply.headers["location"])
            assert "[1] approved" in shown.text
    assert verdicts["c1"].approved
    outcomes = [(r["outcome"], r["reason"]) for r in daemon.hub.answers()]
    assert outcomes[-1] == ("approved", "")
    # the form without its token is audited; the two foreign ones are one reason, counted
    assert [(o, r.split(" (")[0]) for o, r in outcomes[:-1]] == [
        ("refused", "form without the CSRF token"),
        ("refused", "foreign Host or Origin"),
    ]


async def test_page_escapes_agent_text(rig: Rig, daemon: Daemon) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        request = trequest("x1", "sess-a", path='/home/u/<script>alert("x")</script>')
        group.start_soon(_ask_request, rig, request, verdicts)
        async with _client(daemon) as client:
            await _log_in(client, daemon)
            page = await _wait_shown(client, 'id="approve-1"')
            assert "<script>" not in page and "&lt;script&gt;" in page
            (item,) = daemon.hub.pending()
            assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    assert not verdicts["x1"].approved


async def _ask_request(rig: Rig, request, out: dict[str, Verdict]) -> None:
    out[request.id] = await rig.channels[request.session_id].ask(request)
