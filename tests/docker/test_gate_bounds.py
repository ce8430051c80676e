"""The gate socket's own bounds (issue 14): a connection cap, and idle connections hung up only
when no call of theirs is pending. No session needed: unknown names go to a recording hook."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from appliance.docker.gate_socket import MAX_CONNECTIONS, GateSocket
from servers.wire.server import ToolResult


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="ic-gate-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(10)
    conn.connect(str(path))
    return conn


def _ping(conn: socket.socket) -> bytes:
    conn.sendall(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    return conn.recv(100)


def test_connections_over_the_cap_are_closed(folder: Path) -> None:
    gate = GateSocket(folder / "mcp.sock", [], version="t")
    gate.start()
    try:
        held = [_connect(gate.path) for _ in range(MAX_CONNECTIONS)]
        assert all(b'"result"' in _ping(c) for c in held)
        extra = _connect(gate.path)
        with contextlib.suppress(ConnectionResetError):  # hung up at once
            assert extra.recv(100) == b""
        for conn in held:
            conn.close()
    finally:
        gate.close()


def test_idle_connections_are_hung_up_but_not_while_a_call_waits(folder: Path) -> None:
    release = threading.Event()

    def slow(_name: str, _arguments: object) -> ToolResult:
        release.wait(10)
        return ToolResult("DENIED: slow", is_error=True)

    gate = GateSocket(folder / "mcp.sock", [], version="t", unknown=slow, idle_seconds=0.4)
    gate.start()
    try:
        idle = _connect(gate.path)
        started = time.monotonic()
        assert idle.recv(100) == b"" and time.monotonic() - started < 5
        busy = _connect(gate.path)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "x__y", "arguments": {}}}  # fmt: skip
        busy.sendall(json.dumps(call).encode() + b"\n")
        time.sleep(1.5)  # well past the idle time, but a call is pending
        release.set()
        reply = json.loads(busy.makefile("rb").readline())
        assert reply["id"] == 2 and reply["result"]["content"][0]["text"] == "DENIED: slow"
        idle.close()
        busy.close()
    finally:
        gate.close()
