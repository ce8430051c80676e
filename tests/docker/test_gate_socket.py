"""The gate socket with the real session (shipped policy, servers over stdio, audit log) and the
real MCP SDK client, bridged to the socket by `socat` exactly as inside the container. No Docker
engine needed: these run everywhere socat is installed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import BlockingPortal
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from appliance.chokepoint.trip import SessionStopped
from appliance.config.paths import app_paths
from appliance.docker.gate_socket import GateSocket, gate_tools, serve_gate
from appliance.session.core import SessionOptions, open_session
from tests.docker.docker_helpers import session_config

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed"),
]


@pytest.fixture
def private_dir():
    folder = Path(tempfile.mkdtemp(prefix="ic-gate-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def audit_entries(session_dir: Path) -> list[dict]:
    lines = (session_dir / "audit.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry.get("type") == "call"]


async def test_sdk_client_through_socat_reaches_the_chokepoint_and_is_audited(
    tmp_path: Path, private_dir: Path
) -> None:
    paths = app_paths()
    options = SessionOptions(session_id="gate-sdk", sandbox=tmp_path / "sandbox")
    bridge = StdioServerParameters(
        command="socat", args=["STDIO", f"UNIX-CONNECT:{private_dir / 'mcp.sock'}"]
    )
    async with open_session(session_config(), paths, options) as session:
        async with serve_gate(session, private_dir / "mcp.sock", lambda _reason: None) as gate:
            assert stat.S_IMODE(gate.path.stat().st_mode) == 0o600
            async with stdio_client(bridge) as (read, write), ClientSession(read, write) as client:
                await client.initialize()
                names = {tool.name for tool in (await client.list_tools()).tools}
                allowed = await client.call_tool("filesystem__list_allowed_directories", {})
                denied = await client.call_tool(
                    "filesystem__read_text_file", {"path": str(paths.config_file)}
                )
                probe = await client.call_tool("shell__exec", {"command": "id"})
        assert not gate.path.exists(), "the socket file must be removed with the gate"
    assert {"filesystem__read_text_file", "git__git_status", "fetch__http_fetch"} <= names
    assert not allowed.is_error and str(tmp_path / "sandbox") in allowed.content[0].text
    assert denied.is_error and denied.content[0].text.startswith("DENIED")
    assert probe.is_error and probe.content[0].text.startswith("DENIED")
    entries = audit_entries(paths.session_dir("gate-sdk"))
    assert [(e["tool"], e["decision"], e["rule"]) for e in entries][1:] == [
        ("read_text_file", "deny", "structural-protected-path"),
        ("exec", "deny", "structural-unknown-server"),  # a probe for tools is audited too
    ]
    assert (entries[0]["tool"], entries[0]["decision"]) == ("list_allowed_directories", "allow")


async def test_gate_refuses_a_folder_open_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with pytest.raises(PermissionError, match="must be private"):
        GateSocket(folder / "mcp.sock", [], version="t").start()
    assert not (folder / "mcp.sock").exists()


class _StoppingChokepoint:
    """The chokepoint's one way to end a session: its audit log could not be written."""

    def __init__(self) -> None:
        self.calls = 0

    async def call(self, server: str, tool: str, arguments: dict):
        self.calls += 1
        raise SessionStopped("the audit log could not be written: disk full")


class _Info:
    server, name, description = "filesystem", "list_allowed_directories", "d"

    @property
    def input_schema(self) -> dict:
        return {"type": "object"}


async def test_session_stopped_refuses_every_later_call_and_tells_the_owner() -> None:
    chokepoint, reasons = _StoppingChokepoint(), []
    async with BlockingPortal() as portal:
        [tool] = gate_tools([_Info()], chokepoint, portal, reasons.append)
        first = await anyio.to_thread.run_sync(tool.handler, {})
        second = await anyio.to_thread.run_sync(tool.handler, {})
    assert first.is_error and second.is_error and first.text.startswith("DENIED")
    assert chokepoint.calls == 1, "after SessionStopped no call may reach the chokepoint"
    assert reasons == ["the audit log could not be written: disk full"]


async def test_gate_close_hangs_up_connected_clients(private_dir: Path) -> None:
    gate = GateSocket(private_dir / "mcp.sock", [], version="t")
    gate.start()
    client = socket.socket(socket.AF_UNIX)
    client.connect(str(gate.path))
    client.sendall(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    client.settimeout(5)
    assert json.loads(client.recv(4096))["result"] == {}
    await anyio.sleep(0)
    gate.close()
    assert client.recv(4096) == b""  # EOF: the server side hung up
    client.close()
    assert not gate.path.exists()
