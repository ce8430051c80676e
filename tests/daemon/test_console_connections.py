"""The console's connections are bounded in number, time and head size (bounded_http.py), tested
with real sockets against the real console while an escalation waits, which nothing here may
answer: tests/vectors/daemon/console_connections.json byte for byte, then floods of connections
beyond the cap, every slot busy, and a daemon stopped while connections are held."""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import pytest
from daemon_rig import Rig, fill, trequest, until
from slow_clients import handlers, held

from appliance.chokepoint.escalation import Verdict
from appliance.daemon import bounded_http
from appliance.daemon.console import Console
from appliance.daemon.hub import Pending
from appliance.daemon.run import Daemon, DaemonFiles

DATA = json.loads(
    (Path(__file__).parents[1] / "vectors" / "daemon" / "console_connections.json").read_text()
)
CASES = DATA["cases"] + DATA["served"]
DEADLINE_S = 1.0  # the vectors' timings assume it

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded_http, "REQUEST_DEADLINE_S", DEADLINE_S)


@asynccontextmanager
async def waiting(rig: Rig, daemon: Daemon) -> AsyncIterator[Pending]:
    """sess-a's escalation waits meanwhile; on leaving it must still wait, and is denied."""
    verdicts: dict[str, Verdict] = {}

    async def ask() -> None:
        verdicts["v"] = await rig.channels["sess-a"].ask(trequest("v1", "sess-a"))

    async with anyio.create_task_group() as group:
        group.start_soon(ask)
        await until(daemon.hub.pending)
        (item,) = daemon.hub.pending()
        yield item
        assert daemon.hub.pending() == [item], "the escalation still waits"
        assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    assert not verdicts["v"].approved


def _values(console: Console, item: Pending) -> dict[str, str]:
    return {
        "host": f"127.0.0.1:{console.port}",
        "base": console.base,
        "token": console.token,
        "digest": item.request.call_digest,
    }


def _text(template: str, values: dict[str, str]) -> bytes:
    text = re.sub(r"\{pad:(\d+)\}", lambda m: "a" * int(m[1]), fill(template, values))
    return re.sub(r"\{length:([^{}]*)\}", lambda m: str(len(m[1].encode())), text).encode()


def converse(console: Console, case: dict[str, Any], values: dict[str, str]) -> tuple[int, float]:
    """Play a case's steps on one connection; the reply's status (0: closed with none) and the
    seconds from the connection's start to it."""
    start = time.monotonic()
    with socket.create_connection((console.host, console.port), timeout=5) as conn:
        if _play(conn, case["steps"], values) and case.get("close_write"):
            conn.shutdown(socket.SHUT_WR)
        select.select([conn], [], [], 5)
        took = time.monotonic() - start
        reply = b""
        with suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                reply += chunk
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, took


def _play(conn: socket.socket, steps: list[dict[str, Any]], values: dict[str, str]) -> bool:
    """Send the steps; False when the console replied or closed before they were all sent."""
    for step in steps:
        data = _text(step["send"], values)
        pieces = [data[i : i + 1] for i in range(len(data))] if step.get("bytewise") else [data]
        for _ in range(step.get("times", 1)):
            for piece in pieces:
                if select.select([conn], [], [], step.get("gap_s", 0))[0]:
                    return False
                try:
                    conn.sendall(piece)
                except OSError:
                    return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
async def test_console_connection_vector(rig: Rig, daemon: Daemon, case: dict[str, Any]) -> None:
    console = daemon.console
    assert console is not None
    async with waiting(rig, daemon) as item:
        values = _values(console, item)
        status, took = await anyio.to_thread.run_sync(converse, console, case, values)
        assert status == case["reply"], case["id"]
        low, high = case["after_s"]
        assert low <= took <= high, f"{case['id']}: {took:.2f} s"
        records = daemon.hub.answers()
        if case["audit"] is None:
            assert records == []
        else:
            (record,) = records
            assert record["outcome"] == "refused" and case["audit"] in record["reason"]


def page(console: Console) -> tuple[int, float]:
    """A person's request for the page (with the cookie): its status and seconds."""
    start = time.monotonic()
    with socket.create_connection((console.host, console.port), timeout=10) as conn:
        conn.sendall(
            f"GET {console.base} HTTP/1.1\r\nHost: {console.host}:{console.port}\r\n"
            f"Cookie: ironcurtain_console={console.token}\r\n\r\n".encode()
        )
        line = conn.makefile("rb").readline()
    return int(line.split()[1]), time.monotonic() - start


async def test_a_flood_holds_at_most_the_cap_and_the_page_is_served(
    rig: Rig, daemon: Daemon
) -> None:
    """200 half-sent heads, re-opened as fast as the console closes them: the threads stay under
    the cap and a person's page comes within a second, each time."""
    console = daemon.console
    assert console is not None
    async with waiting(rig, daemon):
        with held(console, 200, reopen=True):
            most = handlers(console)
            for _ in range(5):
                status, took = await anyio.to_thread.run_sync(page, console)
                assert status == 200 and took < 1.0, f"{status} after {took:.2f} s"
                most = max(most, handlers(console))
        # a thread or two may be between giving its slot back and its end
        assert most <= bounded_http.MAX_CONNECTIONS + 2, most
        reasons = [r["reason"] for r in daemon.hub.answers()]
        assert any("too many connections: the oldest unfinished one closed" in r for r in reasons)
    await until(lambda: handlers(console) == 0, DEADLINE_S + 2)


async def test_every_slot_working_refuses_a_newcomer_with_503(
    rig: Rig, daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every slot reading a form whose head is in (nothing to close), a newcomer is refused
    503 after a short wait; once the forms time out, the page is served again."""
    monkeypatch.setattr(bounded_http, "SLOT_WAIT_S", 0.2)
    console = daemon.console
    assert console is not None
    head = (
        f"POST {console.base}answer HTTP/1.1\r\nHost: {console.host}:{console.port}\r\n"
        f"Cookie: ironcurtain_console={console.token}\r\nContent-Length: 100\r\n\r\ncsrf="
    ).encode()
    async with waiting(rig, daemon):
        forms = [socket.create_connection((console.host, console.port))]
        for conn in forms:
            conn.sendall(head)
        forms += [
            socket.create_connection((console.host, console.port))
            for _ in range(bounded_http.MAX_CONNECTIONS - 1)
        ]
        for conn in forms[1:]:
            conn.sendall(head)
        try:
            await anyio.sleep(0.1)
            status, took = await anyio.to_thread.run_sync(page, console)
            assert status == 503 and 0.15 < took < 0.8, (status, took)
            await anyio.sleep(DEADLINE_S)
            assert (await anyio.to_thread.run_sync(page, console))[0] == 200
        finally:
            for conn in forms:
                conn.close()
        reasons = [r["reason"] for r in daemon.hub.answers()]
        assert any("too many connections: refused, every slot busy" in r for r in reasons)


async def test_stopping_the_daemon_ends_held_connections(rig: Rig, tmp_path: Path) -> None:
    daemon = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0)
    daemon.hub = rig.hub
    daemon.start()
    assert daemon.console is not None
    with held(daemon.console, bounded_http.MAX_CONNECTIONS) as conns:
        await until(lambda: handlers(daemon.console) == bounded_http.MAX_CONNECTIONS)
        start = time.monotonic()
        await anyio.to_thread.run_sync(daemon.stop)
        assert time.monotonic() - start < 0.8
        for conn in conns:
            assert select.select([conn], [], [], 1)[0] and conn.recv(1) == b""
