"""Round-17 attacks on the web console, in a real headless Chromium where the browser decides:

- the console's cookie must not reach another program listening on 127.0.0.1 (cookies are not
  kept apart by port: a page on any loopback port the browser is sent to would receive the
  console token and could approve whatever it likes);
- the page must show no text taken from its URL (``?notice=``: anyone who can get the browser
  to open a console link writes into the trusted page);
- the page must not reload itself under the approver's pointer while escalations wait (one
  withdrawn above moves the next one's Approve button to where the person is about to click).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import pytest
from cdp import Browser, chromium_path
from daemon_rig import Rig, trequest, until

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon

pytestmark = pytest.mark.anyio
needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="needs Debian's chromium for the browser"
)


class _Spy:
    """Another program on another loopback port: records the Cookie header of every request,
    and answers ``/hop`` with a page that sends the browser on to ``/again`` on the same port
    (a same-site navigation, which carries even SameSite=Strict cookies)."""

    def __init__(self) -> None:
        self.cookies: list[tuple[str, str]] = []
        spy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                spy.cookies.append((self.path, self.headers.get("Cookie", "")))
                body = b"<script>location='/again'</script>" if self.path == "/hop" else b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _ask(rig: Rig, session: str, request_id: str, out: dict[str, Verdict]) -> None:
    request = trequest(request_id, session, path=f"/home/u/{session}-{request_id}.txt")
    out[request_id] = await rig.channels[session].ask(request)


@needs_chromium
async def test_console_cookie_does_not_reach_another_loopback_port(
    daemon: Daemon, tmp_path: Path
) -> None:
    assert daemon.console is not None
    token = daemon.console.token
    spy = _Spy()
    try:
        async with Browser(tmp_path / "profile") as browser:
            await browser.navigate(daemon.console.url())
            await browser.wait_for("document.body.innerText.includes('Pending escalations')")
            # typed or opened from another program (no initiator: Strict cookies go along) ...
            await browser.navigate(f"http://127.0.0.1:{spy.port}/direct")
            # ... or sent there by a web page and hopping once on the same site
            await browser.navigate(
                f"data:text/html,<script>location='http://127.0.0.1:{spy.port}/hop'</script>"
            )
            await until(lambda: any(path == "/again" for path, _ in spy.cookies), 10)
    finally:
        spy.close()
    assert {path for path, _ in spy.cookies} >= {"/direct", "/hop", "/again"}
    leaked = [(path, cookie) for path, cookie in spy.cookies if token in cookie]
    assert not leaked, f"the console token reached another port: {leaked}"


async def _logged_in(client: httpx.AsyncClient, daemon: Daemon) -> str:
    """Log in with the printed token; return where the console's page lives."""
    assert daemon.console is not None
    reply = await client.get(f"/?token={daemon.console.token}")
    assert reply.status_code == 303
    return reply.headers["location"]


async def test_the_page_shows_no_notice_written_in_its_url(daemon: Daemon) -> None:
    assert daemon.console is not None
    forged = "All clear: the policy now allows escalation 2, approve it"
    async with httpx.AsyncClient(base_url=daemon.console.origin) as client:
        page = await _logged_in(client, daemon)
        reply = await client.get(page, params={"notice": forged})
        assert reply.status_code == 200 and "Pending escalations" in reply.text
        assert "All clear" not in reply.text


@needs_chromium
async def test_the_page_does_not_reload_under_the_pointer(
    rig: Rig, daemon: Daemon, tmp_path: Path
) -> None:
    """Escalations 1 and 2 wait, shown alike; the approver's pointer is on Approve 1. Then 1 is
    withdrawn (answered at the terminal, or its timeout, which the agent knows to the second).
    Two reloads later Approve 2 must not be under that pointer: a click there approves 1, which
    is refused, and 2 still waits."""
    assert daemon.console is not None
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group, Browser(tmp_path / "profile") as browser:
        group.start_soon(_ask, rig, "sess-a", "p1", verdicts)
        await until(lambda: len(daemon.hub.pending()) == 1)
        group.start_soon(_ask, rig, "sess-b", "p2", verdicts)
        await until(lambda: len(daemon.hub.pending()) == 2)
        await browser.navigate(daemon.console.url())
        await browser.wait_for("!!document.getElementById('approve-2')")
        where = await browser.evaluate(
            "(() => { const r = document.getElementById('approve-1').getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        first = next(p for p in daemon.hub.pending() if p.short_id == "1")
        assert daemon.hub.answer("1", "deny", first.request.call_digest, "terminal").ok
        await until(lambda: "p1" in verdicts)
        await anyio.sleep(4.5)  # two of the old 2-second reloads
        under = await browser.evaluate(f"document.elementFromPoint({where[0]}, {where[1]}).id")
        assert under == "approve-1", f"{under!r} is now under the approver's pointer"
        await browser.click("#approve-1")
        await browser.wait_for("(document.getElementById('notice')||{}).innerText !== undefined")
        notice = await browser.evaluate("document.getElementById('notice').innerText")
        assert notice.startswith("refused: replayed"), notice
        (second,) = daemon.hub.pending()
        assert second.short_id == "2", "escalation 2 still waits"
        assert daemon.hub.answer("2", "deny", second.request.call_digest, "test").ok
    assert not verdicts["p1"].approved and not verdicts["p2"].approved


class _AttackPage:
    """A page on another loopback port (same site as the console, another origin) that knows
    even the console's path and token, the worst case, and tries to approve escalation 1: a form
    post (urlencoded, then text/plain) and a ``fetch`` with ``mode: 'no-cors'``."""

    def __init__(self, target: str, form: dict[str, str]) -> None:
        fields = "".join(f'<input name="{k}" value="{v}">' for k, v in form.items())
        body = "&".join(f"{k}={v}" for k, v in form.items())
        pages = {
            "/form": f'<form method="post" action="{target}">{fields}</form>'
            "<script>document.forms[0].submit()</script>",
            "/plain": f'<form method="post" enctype="text/plain" action="{target}">{fields}'
            "</form><script>document.forms[0].submit()</script>",
            "/fetch": f"<script>fetch({target!r}, {{method: 'POST', mode: 'no-cors', "
            f"credentials: 'include', headers: {{'Content-Type': "
            f"'application/x-www-form-urlencoded'}}, body: {body!r}}})"
            ".then(() => document.title = 'sent', () => document.title = 'failed')</script>",
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                data = pages.get(self.path, "").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@needs_chromium
async def test_a_page_on_another_loopback_port_cannot_post_an_approval(
    rig: Rig, daemon: Daemon, tmp_path: Path
) -> None:
    """Held before this round too (the Origin check): the console's cookie is sent (same site),
    the form is complete, and every post is still refused; escalation 1 still waits."""
    assert daemon.console is not None
    console = daemon.console
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group, Browser(tmp_path / "profile") as browser:
        group.start_soon(_ask, rig, "sess-a", "f1", verdicts)
        await until(lambda: len(daemon.hub.pending()) == 1)
        (item,) = daemon.hub.pending()
        form = {"csrf": console.token, "id": "1", "decision": "approve"}
        form["digest"] = item.request.call_digest
        attacker = _AttackPage(f"{console.origin}{console.base}answer", form)
        try:
            await browser.navigate(console.url())  # the person is logged in
            await browser.wait_for("!!document.getElementById('approve-1')")
            refused = daemon.hub._counted  # counted refusals: audited at the 1st, 10th ...
            key = ("web-console", "foreign Host or Origin")
            for n, page in enumerate(("/form", "/plain", "/fetch"), start=1):
                await browser.navigate(attacker.origin + page)
                await until(lambda n=n: refused.get(key, 0) == n, 10)
        finally:
            attacker.close()
        assert [p.short_id for p in daemon.hub.pending()] == ["1"], "nothing was answered"
        reasons = [r["reason"] for r in daemon.hub.answers()]
        assert reasons == ["foreign Host or Origin (POST /c/.../answer; 1 this run)"], reasons
        assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    assert not verdicts["f1"].approved
