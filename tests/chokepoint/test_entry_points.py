"""Every entry point survives anything a client sends and says what it refused (issue 14).

The vectors (tests/vectors/entry/messages.json) go through StdioServer in memory, the real
`ironcurtain mcp-proxy` over stdio and the real Docker gate socket with the real session. After
each, the front still answers, and the audit log holds every call that reached the chokepoint.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.audit import verify_file
from servers.wire.server import SERVER_BUSY, StdioServer, Tool, ToolResult
from tests.chokepoint.entry_lines import cases, line_bytes

CLI = [sys.executable, "-m", "appliance.cli"]
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def _echo_server(**kw) -> StdioServer:
    tool = Tool("echo", "echo", {"type": "object"}, lambda a: ToolResult(json.dumps(a)))
    return StdioServer("t", "1", [tool], **kw)


def _serve_lines(server: StdioServer, data: bytes) -> list[dict]:
    out = io.BytesIO()
    server.run(io.BytesIO(data), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_vector_in_memory_is_answered_and_the_server_keeps_serving(case: dict) -> None:
    ping = b'{"jsonrpc": "2.0", "id": 99, "method": "ping"}\n'
    replies = _serve_lines(_echo_server(), line_bytes(case) + ping)
    assert len(replies) == 2, replies
    assert replies[0]["error"]["code"] == case["expect"]["error_code"]
    assert case["expect"]["message_contains"] in replies[0]["error"]["message"]
    assert replies[1] == {"jsonrpc": "2.0", "id": 99, "result": {}}


def test_calls_over_the_bound_get_busy_errors_and_the_bound_recovers() -> None:
    release = threading.Event()
    slow = Tool("slow", "", {"type": "object"}, lambda a: (release.wait(5), ToolResult("ok"))[1])
    server = StdioServer("t", "1", [slow], max_pending=2, max_inflight_bytes=10_000)
    reader, writer = os.pipe()
    out = io.BytesIO()
    thread = threading.Thread(target=server.run, args=(os.fdopen(reader, "rb"), out))
    thread.start()
    with os.fdopen(writer, "wb") as pipe:
        for i in range(5):
            pipe.write(json.dumps(_call(i, "slow", {})).encode() + b"\n")
        big = _call(9, "slow", {"x": "A" * 20_000})  # alone over the byte bound
        pipe.write(json.dumps(big).encode() + b"\n")
        pipe.flush()
        deadline = time.monotonic() + 5
        while out.getvalue().count(b"\n") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
    thread.join(10)
    replies = {r["id"]: r for r in map(json.loads, out.getvalue().splitlines())}
    busy = sorted(i for i, r in replies.items() if r.get("error", {}).get("code") == SERVER_BUSY)
    assert busy == [2, 3, 4, 9]
    assert "at most 2 calls" in replies[2]["error"]["message"]
    assert replies[0]["result"]["content"][0]["text"] == "ok"
    assert server.pending == 0 and server.inflight_bytes == 0


def _call(request_id: int, name: str, arguments: dict) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


# --- the real mcp-proxy -------------------------------------------------------------------


class Proxy:
    def __init__(self, tmp_path: Path) -> None:
        self.sandbox = tmp_path / "sandbox"
        self.sandbox.mkdir()
        (self.sandbox / "a.txt").write_text("alpha")
        self.home = tmp_path / "home"
        env = dict(os.environ, IRONCURTAIN_HOME=str(self.home), HOME=str(tmp_path))
        self.process = subprocess.Popen(
            [*CLI, "mcp-proxy", "--sandbox", str(self.sandbox)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.send(json.dumps(INIT).encode() + b"\n")
        assert self.reply()["id"] == 0

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def reply(self) -> dict:
        line = self.process.stdout.readline()
        assert line, f"mcp-proxy stopped answering (exit {self.process.poll()})"
        return json.loads(line)

    def call(self, request_id: int, name: str, arguments: dict) -> dict:
        self.send(json.dumps(_call(request_id, name, arguments)).encode() + b"\n")
        return self.reply()

    def audit(self) -> list[dict]:
        (log,) = (self.home / "sessions").glob("*/audit.jsonl")
        assert verify_file(log).ok
        return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(20)


@pytest.fixture
def proxy(tmp_path: Path):
    running = Proxy(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_mcp_proxy_survives_every_vector_and_audits_unknown_tools(proxy: Proxy) -> None:
    for case in cases():
        proxy.send(line_bytes(case))
        reply = proxy.reply()
        assert reply["error"]["code"] == case["expect"]["error_code"], case["id"]
        assert case["expect"]["message_contains"] in reply["error"]["message"], case["id"]
    probe = proxy.call(1, "shell__exec", {"command": "id"})
    nameless = proxy.call(2, "", {})
    ok = proxy.call(3, "filesystem__read_text_file", {"path": "a.txt"})
    assert probe["result"]["isError"] and probe["result"]["content"][0]["text"].startswith("DENIED")
    assert nameless["result"]["isError"]
    assert ok["result"]["content"][0]["text"] == "alpha"
    proxy.close()
    assert proxy.process.returncode == 0
    records = proxy.audit()
    assert [(r["server"], r["rule"]) for r in records] == [
        ("shell", "structural-unknown-server"),
        ("", "structural-unknown-server"),
        ("filesystem", "structural-sandbox-allow"),
    ]


def test_mcp_proxy_fuzz_never_stops_and_audits_every_call_that_reached_a_server(
    proxy: Proxy,
) -> None:
    rng = random.Random(14)
    names = ["filesystem__read_text_file", "filesystem__list_directory", "nope__x", "fetch__x"]
    served = succeeded = 0
    for request_id in range(1, 121):
        kind = rng.randrange(5)
        if kind == 0:
            depth = rng.choice([3, 70, 5000])
            data = b'{"jsonrpc":"2.0","id":1,"method":"x","params":' + b"[" * depth + b"]" * depth
            proxy.send(data + b"}\n")
            assert "error" in proxy.reply()
            continue
        if kind == 1:
            token = rng.choice(["NaN", "Infinity", "-Infinity", "1e999", '"\\udc00"'])
            proxy.send(
                f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call",'
                f'"params":{{"name":"x","arguments":{{"a":{token}}}}}}}\n'.encode()
            )
            assert proxy.reply()["error"]["code"] == -32700
            continue
        arguments = rng.choice(
            [
                {"path": "a.txt"},
                {"path": "."},
                {"path": "A" * rng.randrange(1, 70_000)},
                {"path": ["a.txt"]},
                {"x": {"y": [1, 2, {"z": None}]}},
                {},
            ]
        )
        reply = proxy.call(request_id, rng.choice(names), arguments)
        assert reply["id"] == request_id and "result" in reply
        served += 1
        succeeded += not reply["result"]["isError"]
    proxy.close()
    assert proxy.process.returncode == 0
    records = proxy.audit()
    assert len(records) == served  # every tools/call that was parsed reached the chokepoint
    # every call a server answered with success has its record, written before the answer
    assert sum(r["status"] == "ok" for r in records) == succeeded > 0


# --- the real gate socket ------------------------------------------------------------------


@pytest.fixture
def private_dir():
    folder = Path(tempfile.mkdtemp(prefix="ic-gate-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.anyio
async def test_gate_socket_survives_vectors_and_hangs_up_idle_connections(
    tmp_path: Path, private_dir: Path
) -> None:
    from appliance.config.paths import app_paths
    from appliance.docker.gate_socket import serve_gate
    from appliance.session.core import SessionOptions, open_session
    from tests.docker.docker_helpers import session_config

    options = SessionOptions(session_id="gate-limits", sandbox=tmp_path / "sandbox")
    async with open_session(session_config(), app_paths(), options) as session:
        async with serve_gate(session, private_dir / "mcp.sock", lambda _r: None) as gate:
            gate.idle_seconds = 1.0

            def exchange() -> tuple[list[dict], bytes]:
                conn = socket.socket(socket.AF_UNIX)
                conn.connect(str(gate.path))
                stream = conn.makefile("rwb")
                replies = []
                for case in cases():
                    stream.write(line_bytes(case))
                    stream.flush()
                    replies.append(json.loads(stream.readline()))
                stream.write(json.dumps(_call(5, "shell__exec", {})).encode() + b"\n")
                stream.flush()
                replies.append(json.loads(stream.readline()))
                started = time.monotonic()
                tail = stream.read()  # idle: the gate hangs up, read() sees EOF
                replies.append({"idle_closed_after": time.monotonic() - started})
                conn.close()
                return replies, tail

            replies, tail = await anyio.to_thread.run_sync(exchange)
        for case, reply in zip(cases(), replies, strict=False):
            assert reply["error"]["code"] == case["expect"]["error_code"], case["id"]
        assert replies[len(cases())]["result"]["content"][0]["text"].startswith("DENIED")
        assert tail == b"" and replies[-1]["idle_closed_after"] < 10
        records = [
            r
            for r in map(json.loads, (session.dir / "audit.jsonl").read_text().splitlines())
            if r.get("type") == "call"
        ]
        assert [(r["server"], r["rule"]) for r in records] == [
            ("shell", "structural-unknown-server")
        ]
