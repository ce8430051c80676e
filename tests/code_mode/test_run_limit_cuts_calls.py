"""The run's overall wall-clock limit also bounds a tool call in progress: the vectors of
tests/vectors/code_mode_inflight/cut_off_calls.json, run by the real guest through CodeExecutor
and a real session (the shipped servers over stdio, the shipped policy, a real audit log).

Before, the call ran to its own end (an escalation's 30 s timeout, the fetch server's 30 s) and
only then did the run end; an escalation stayed open, answerable, past the limit."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from appliance.chokepoint.escalation.files import response_path
from appliance.chokepoint.escalation.interactive import InteractivePrompt
from appliance.sandbox import Limits, Sandbox
from appliance.sandbox.code_mode import CodeExecutor
from tests.chokepoint.chokepoint_helpers import local_sites_session
from tests.servers.loopback import tarpit

CASES = json.loads(
    (
        Path(__file__).parents[1] / "vectors" / "code_mode_inflight" / "cut_off_calls.json"
    ).read_text()
)["cases"]

pytestmark = pytest.mark.anyio


def call_records(audit: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    return [r for r in records if r.get("type") == "call"]


async def watch_requests(folder: Path, seen: list[dict[str, Any]]) -> None:
    """Keep every escalation request the session writes (what a listener would read)."""
    while True:
        for path in folder.glob("request-*.json"):
            request = json.loads(path.read_text())
            if request not in seen:
                seen.append(request)
        await anyio.sleep(0.02)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_cut_off_vector(case, tmp_path, guest_wasm, shared_cache) -> None:
    expect = case["expect"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "sandbox").mkdir()
    inside, outside = tmp_path / "sandbox" / "in.txt", tmp_path / "docs" / "out.txt"
    inside.write_text("hello")
    box = Sandbox(
        guest_wasm,
        cache_dir=shared_cache,
        limits=Limits(run_wall_seconds=case["run_wall_seconds"]),
    )
    seen: list[dict[str, Any]] = []
    terminal = io.StringIO()
    human = InteractivePrompt(terminal, 30) if case["human"] == "prompt" else case["human"]
    with tarpit() as site:
        code = case["code"].format(outside=outside, inside=inside, tarpit=site.url)
        async with local_sites_session(tmp_path, human) as s:
            catalog = [t.catalog_entry() for t in await s.servers.all_tools()]
            executor = CodeExecutor(s.chokepoint, box, catalog)
            folder = s.dir / "escalations"
            async with anyio.create_task_group() as group:
                group.start_soon(watch_requests, folder, seen)
                result = await executor.run(code)
                assert s.chokepoint._in_flight == 0, "a trip is still in the chokepoint"
                assert not any(
                    c.client._pending for c in s.servers._connections.values() if c.client
                ), "a request still waits for its server's answer"
                group.cancel_scope.cancel()
            assert list(folder.glob("request-*")) == [], "an approval is left open"
            for request in seen:  # approved after the limit, as a listener would: nothing runs
                answer = {"id": request["id"], "decision": "approve"}
                answer["callDigest"] = request["callDigest"]
                response_path(folder, request["id"]).write_text(json.dumps(answer))
            await anyio.sleep(0.3)
            records = call_records(s.audit_path)
            if isinstance(human, InteractivePrompt):
                assert human.pending() == [], "the terminal still offers the escalation"
                assert human.command("/approve 1") == "no pending escalation 1"
    _check(expect, result, records, outside)
    if "prompt_says" in expect:
        assert expect["prompt_says"] in terminal.getvalue(), terminal.getvalue()


def _check(expect: dict, result, records: list[dict[str, Any]], outside: Path) -> None:
    if "error_kind" in expect:
        assert result.error is not None and result.error.kind == expect["error_kind"], result
        assert "overall wall-clock limit" in result.error.message
        assert expect["message_contains"] in result.error.message
    else:
        assert result.error is None and result.result == expect["result"], result
    assert result.duration_s <= expect["max_duration_s"], result.duration_s
    shown = [[r["status"], r["decision"], (r["escalation"] or {}).get("outcome")] for r in records]
    assert shown == expect["records"]
    for record in records:
        if record["status"] == "cut-off":
            assert record["durationMs"] < expect["max_duration_s"] * 1000
    assert outside.exists() is expect["outside_written"]


async def test_a_cut_off_call_leaves_the_server_usable(tmp_path, guest_wasm, shared_cache):
    """After a fetch is cut off (its request cancelled), the fetch server stops it (its
    connection to the site is closed at once, not at the fetch's own 30 s timeout) and the same
    server connection answers the next run's fetch: nothing of the cancelled request is left
    waiting in the client or running in the server."""
    (tmp_path / "sandbox").mkdir()
    box = Sandbox(guest_wasm, cache_dir=shared_cache, limits=Limits(run_wall_seconds=1.0))
    with tarpit() as site, _answering() as good:
        url = site.url
        async with local_sites_session(tmp_path, "approves") as s:
            catalog = [t.catalog_entry() for t in await s.servers.all_tools()]
            executor = CodeExecutor(s.chokepoint, box, catalog)
            started = time.monotonic()
            cut = await executor.run(f"fetch.http_fetch(url='{url}')")
            assert cut.error is not None and cut.error.kind == "run_deadline"
            assert time.monotonic() - started < 2.5
            with anyio.fail_after(3):  # the server stopped the request: its socket was shut
                while not site.closed.is_set():
                    await anyio.sleep(0.02)
            after = await executor.run(f"fetch.http_fetch(url='{good}')['status']")
    assert after.error is None and after.result == "200", after
    records = call_records(s.audit_path)
    assert [r["status"] for r in records] == ["cut-off", "ok"]


@contextmanager
def _answering() -> Iterator[str]:
    """http://localhost:PORT/ of a server that answers every request with a short page."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<p>fine</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
