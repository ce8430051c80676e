"""A client's ``notifications/cancelled`` reaches the chokepoint's trip behind both fronts.

Real parts only: Docker mode's gate socket (a real StdioServer on a real Unix socket) and the
real ``ironcurtain mcp-proxy`` process over stdio, each with a real session (the shipped policy
and servers over stdio, a real audit log). The trip is cut off as any cancelled trip is: audited
``status: cut-off``, the server behind told (``notifications/cancelled``: the fetch server closes
its connection to a loopback site that never answers, the git server stops git and removes the
partial clone), a question still waiting for a human withdrawn, and no answer sent. Messages that
must change nothing (tests/vectors/wire/front_cancellations.json) leave the trip running.

Before, the front stopped answering the call and the trip ran on to its end (the fetch server's
30 s, the escalation's timeout), its question still answerable."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from chokepoint_helpers import local_sites_session

from appliance.chokepoint.escalation.files import response_path
from appliance.docker.gate_socket import serve_gate
from appliance.session.core import Session
from tests.servers.loopback import Tarpit, tarpit
from tests.servers.mcp_lines import McpLines, McpProcess

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests/vectors/wire/front_cancellations.json").read_text())["cases"]
QUIET_S = 1.5  # how long "no answer" and "nothing changed" are waited for
FETCH = "fetch__http_fetch"
LISTED = "filesystem__list_allowed_directories"


def call_records(session: Session) -> list[dict[str, Any]]:
    lines = session.audit_path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("type") == "call"]


def shown(record: dict[str, Any]) -> list[Any]:
    return [record["status"], record["decision"], (record["escalation"] or {}).get("outcome")]


def ids(messages: list[dict[str, Any]]) -> list[object]:
    return [m.get("id") for m in messages if "method" not in m]


@contextlib.asynccontextmanager
async def gate(tmp_path: Path, human: Any) -> AsyncIterator[tuple[Session, Path]]:
    """A session (tests/chokepoint/chokepoint_helpers.py) served on a gate socket."""
    folder = Path(tempfile.mkdtemp(prefix="ic-gate-"))  # short: a socket path has 108 bytes
    try:
        async with (
            local_sites_session(tmp_path, human) as session,
            serve_gate(session, folder / "mcp.sock", lambda _reason: None) as served,
        ):
            yield session, served.path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def connected(path: Path) -> Iterator[McpLines]:
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(str(path))
    reader, writer = conn.makefile("rb"), conn.makefile("wb")
    try:
        client = McpLines(writer, reader)
        client.initialize()
        yield client
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)  # the client's reader thread sees EOF and lets go
        for stream in (writer, reader, conn):
            with contextlib.suppress(OSError):
                stream.close()


def settled(session: Session) -> None:
    """Nothing of a cut-off call is left: no trip in the chokepoint, no request at a server."""
    assert session.chokepoint._in_flight == 0, "a trip is still in the chokepoint"
    connections = session.servers._connections.values()
    assert not any(c.client._pending for c in connections if c.client), "a request still waits"


def start_fetch(client: McpLines, site: Tarpit) -> None:
    """Call 3 answers (allowed); call 7, an approved fetch of ``site``, then waits there."""
    client.call(3, LISTED, {})
    assert client.answer(3)["result"]["isError"] is False
    client.call(7, FETCH, {"url": site.url})
    assert site.received.wait(30), "the fetch server never reached the site"


# --- the gate socket (Docker mode) ---------------------------------------------------------


async def test_gate_cancel_cuts_the_trip_off_and_tells_the_server(tmp_path: Path) -> None:
    def client_side(path: Path, site: Tarpit) -> float:
        with connected(path) as client:
            start_fetch(client, site)
            sent = time.monotonic()
            client.cancel(7, "the user pressed stop")
            assert site.closed.wait(5), "the fetch server went on fetching"
            assert site.closed_at is not None
            assert 7 not in ids(client.answers(QUIET_S)), "the cancelled call was answered"
            client.call(8, LISTED, {})  # the connection serves on
            assert client.answer(8)["result"]["isError"] is False
            return site.closed_at - sent

    with tarpit() as site:
        async with gate(tmp_path, "approves") as (session, path):
            told = await anyio.to_thread.run_sync(client_side, path, site)
            settled(session)
            records = call_records(session)
    tools = [r["tool"] for r in records]
    assert tools == ["list_allowed_directories", "http_fetch", "list_allowed_directories"]
    fetch = records[1]
    assert shown(fetch) == ["cut-off", "escalate", "approved"]
    assert "intent" in fetch, "the call went to its server: its intent is on record"
    assert fetch["durationMs"] < 10_000
    print(
        f"gate: the fetch server closed the site's connection {told * 1000:.1f} ms after the cancel"
    )


async def test_gate_cancel_withdraws_the_question_waiting_for_a_human(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    outside = tmp_path / "docs" / "out.txt"

    def client_side(path: Path, folder: Path) -> tuple[dict[str, Any], float]:
        with connected(path) as client:
            client.call(7, "filesystem__write_file", {"path": str(outside), "content": "x"})
            deadline = time.monotonic() + 30
            while not (asked := list(folder.glob("request-*.json"))):
                assert time.monotonic() < deadline, "the escalation was never asked"
                time.sleep(0.02)
            request = json.loads(asked[0].read_text())
            sent = time.monotonic()
            client.cancel(7)
            while list(folder.glob("request-*.json")):
                assert time.monotonic() - sent < 5, "the question is still open"
                time.sleep(0.01)
            withdrawn = time.monotonic() - sent
            assert 7 not in ids(client.answers(QUIET_S)), "the cancelled call was answered"
            return request, withdrawn

    async with gate(tmp_path, "silent") as (session, path):
        folder = session.dir / "escalations"
        request, withdrawn = await anyio.to_thread.run_sync(client_side, path, folder)
        settled(session)
        # approved afterwards, as a listener would: nothing is waiting for it, nothing runs
        answer = {"id": request["id"], "decision": "approve", "callDigest": request["callDigest"]}
        response_path(folder, request["id"]).write_text(json.dumps(answer))
        await anyio.sleep(0.3)
        records = call_records(session)
    assert [shown(r) for r in records] == [["cut-off", "escalate", "withdrawn"]]
    assert not outside.exists()
    print(f"gate: the escalation request withdrawn {withdrawn * 1000:.1f} ms after the cancel")


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
async def test_gate_cancellation_vector(case: dict[str, Any], tmp_path: Path) -> None:
    expect = case["expect"]

    def client_side(path: Path, site: Tarpit, session: Session) -> None:
        with connected(path) as client, connected(path) as other:
            start_fetch(client, site)
            sender = other if case["connection"] == "other" else client
            sender.send(case["message"])
            for each in {id(client): client, id(sender): sender}.values():
                each.send({"jsonrpc": "2.0", "id": 99, "method": "ping"})
                assert each.answer(99, 5)["result"] == {}
            errors = [m["error"]["code"] for m in sender.answers(QUIET_S) if "error" in m]
            assert errors == expect["errors"]
            if expect["cancels"]:
                assert site.closed.wait(5), "the trip went on"
            else:
                assert not site.closed.is_set(), "a message that must change nothing cut it off"
                assert session.chokepoint._in_flight == 1, "the trip stopped"
                assert "http_fetch" not in [r["tool"] for r in call_records(session)]
                client.cancel(7)  # a proper cancellation still cuts it off
                assert site.closed.wait(5), "the trip went on"
            assert 7 not in ids(client.answers(QUIET_S)), "the cancelled call was answered"

    with tarpit() as site:
        async with gate(tmp_path, "approves") as (session, path):
            await anyio.to_thread.run_sync(client_side, path, site, session)
            settled(session)
            records = call_records(session)
    assert [shown(r) for r in records] == [
        ["ok", "allow", None],
        ["cut-off", "escalate", "approved"],
    ]


# --- ironcurtain mcp-proxy (stdio) -----------------------------------------------------------


class Proxy(McpProcess):
    """``ironcurtain mcp-proxy`` over its stdio; its stderr (and its servers', with
    IRONCURTAIN_SERVER_STDERR) kept in a file. The client declares MCP elicitation."""

    def __init__(self, tmp_path: Path) -> None:
        self.home, self.sandbox = tmp_path / "home", tmp_path / "sandbox"
        self.sandbox.mkdir()
        env = {"IRONCURTAIN_HOME": str(self.home), "HOME": str(tmp_path),
               "IRONCURTAIN_SERVER_STDERR": "1"}  # fmt: skip
        argv = ["mcp-proxy", "--sandbox", str(self.sandbox)]
        super().__init__(argv, tmp_path / "proxy-stderr.txt", env, close_wait=20)
        self.initialize({"elicitation": {}})

    def elicitation(self) -> dict[str, Any]:
        return self.take(lambda m: m.get("method") == "elicitation/create", 60, "elicitation")

    def questions(self) -> list[Path]:
        return list(self.home.glob("sessions/*/escalations/request-*.json"))

    def records(self) -> list[dict[str, Any]]:
        (log,) = self.home.glob("sessions/*/audit.jsonl")
        return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    running = Proxy(tmp_path)
    yield running
    running.close()


def _repo(where: Path, blobs: int) -> Path:
    """A repository of a README and ``blobs`` incompressible 8 MiB files stored loose and
    uncompressed: a clone of 6 takes seconds (pack-objects deflates it all)."""
    where.mkdir(parents=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.looseCompression=0"]
    subprocess.run([*git, "init", "-q"], cwd=where, check=True)
    (where / "README").write_text("blobs\n")
    for index in range(blobs):
        (where / f"blob{index}.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    subprocess.run([*git, "add", "."], cwd=where, check=True)
    subprocess.run([*git, "commit", "-qm", "blobs"], cwd=where, check=True)
    return where


def test_mcp_proxy_cancel_withdraws_the_question_in_the_client_and_in_files(
    proxy: Proxy,
) -> None:
    """A clone escalates (a git remote); nobody answers. On the client's cancellation the proxy
    withdraws its elicitation (``notifications/cancelled`` for it) and the listener's request file,
    and a late answer to the elicitation approves nothing."""
    source = _repo(proxy.sandbox / "src", 0)
    target = proxy.sandbox / "copy"
    proxy.call(7, "git__git_clone", {"url": f"file://{source}", "localPath": str(target)})
    asked = proxy.elicitation()
    assert proxy.questions(), "the listener's request file is missing"
    sent = time.monotonic()
    proxy.cancel(7, "the user pressed stop")
    withdrawn = proxy.take(
        lambda m: (
            m.get("method") == "notifications/cancelled"
            and m["params"].get("requestId") == asked["id"]
        ),
        5,
        "withdrawal of the elicitation",
    )
    took = time.monotonic() - sent
    assert withdrawn["params"]["reason"] == "the escalation ended"
    assert proxy.questions() == [], "an approval is left open"
    proxy.send({"jsonrpc": "2.0", "id": asked["id"],
                "result": {"action": "accept", "content": {"approve": True}}})  # fmt: skip
    assert 7 not in ids(proxy.answers(QUIET_S)), "the cancelled call was answered"
    assert not target.exists()
    assert [shown(r) for r in proxy.records()] == [["cut-off", "escalate", "withdrawn"]]
    print(f"mcp-proxy: the elicitation withdrawn {took * 1000:.1f} ms after the cancel")


def test_mcp_proxy_cancel_stops_the_git_server_behind(proxy: Proxy) -> None:
    """An approved clone of 48 MiB, cancelled while git copies it: the git server is told, stops
    git's process group and removes the partial clone; the proxy answers nothing for it."""
    source = _repo(proxy.sandbox / "src", 6)
    target = proxy.sandbox / "copy"
    proxy.call(7, "git__git_clone", {"url": f"file://{source}", "localPath": str(target)})
    asked = proxy.elicitation()
    proxy.send({"jsonrpc": "2.0", "id": asked["id"],
                "result": {"action": "accept", "content": {"approve": True}}})  # fmt: skip
    deadline = time.monotonic() + 30
    while not target.exists():
        assert time.monotonic() < deadline, "the clone never started"
        time.sleep(0.01)
    sent = time.monotonic()
    proxy.cancel(7, "the user pressed stop")
    while target.exists():
        assert time.monotonic() - sent < 5, "the partial clone is still there"
        time.sleep(0.005)
    removed = time.monotonic() - sent
    assert 7 not in ids(proxy.answers(QUIET_S)), "the cancelled call was answered"
    proxy.send({"jsonrpc": "2.0", "id": 8, "method": "ping"})
    assert proxy.answer(8)["result"] == {}
    log = proxy.stderr()
    assert "git clone stopped, its call was cancelled: git exited on SIGTERM" in log, log
    assert "('git_clone') cancelled by the client (reason 'the client stopped waiting'): " in log
    assert [shown(r) for r in proxy.records()] == [["cut-off", "escalate", "approved"]]
    print(f"mcp-proxy: the partial clone gone {removed * 1000:.1f} ms after the cancel")
