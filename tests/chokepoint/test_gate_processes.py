"""The chokepoint as other processes meet it: `mcp-proxy` for any MCP client, approvals from
`escalation-listener` in another process, and a session killed mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.audit import verify_file

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "appliance.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["IRONCURTAIN_HOME"] = str(tmp_path / "home")
    return env


async def test_mcp_proxy_gates_any_mcp_client(tmp_path: Path):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "a.txt").write_text("alpha")
    params = StdioServerParameters(
        command=CLI[0], args=[*CLI[1:], "mcp-proxy", "--sandbox", str(sandbox)], env=_env(tmp_path)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        names = {t.name for t in (await client.list_tools()).tools}
        allowed = await client.call_tool("filesystem__read_text_file", {"path": "a.txt"})
        denied = await client.call_tool(
            "filesystem__move_file", {"source": "/etc/hostname", "destination": "x"}
        )
        bad = await client.call_tool("filesystem__read_text_file", {"path": 3})
    assert {"filesystem__read_text_file", "git__git_status", "fetch__http_fetch"} <= names
    assert not allowed.is_error and allowed.content[0].text == "alpha"
    assert denied.is_error and denied.content[0].text.startswith("DENIED: ")
    assert bad.is_error and bad.content[0].text.startswith("INVALID ARGUMENTS: ")
    (log,) = (tmp_path / "home" / "sessions").glob("*/audit.jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    rules = [r.get("rule") for r in records if r.get("type") == "call"]
    assert rules == ["structural-sandbox-allow", "deny-delete-elsewhere", "invalid-arguments"]
    assert verify_file(log).ok


async def test_listener_in_another_process_approves_an_escalation(tmp_path: Path, monkeypatch):
    from appliance.config.paths import AppPaths
    from appliance.config.settings import Config
    from appliance.session.core import SessionOptions, open_session

    monkeypatch.setenv("IRONCURTAIN_HOME", str(tmp_path / "home"))
    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    sandbox = tmp_path / "sandbox"
    outside = tmp_path / "outside"
    outside.mkdir()
    config = Config(escalation_timeout_seconds=60, allowed_directories=(str(outside),))
    options = SessionOptions(task="t", sandbox=sandbox)
    async with open_session(config, paths, options) as session:
        listener = subprocess.Popen(
            [*CLI, "escalation-listener"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(tmp_path),
        )

        async def answer_when_shown() -> None:
            # Give the listener time to pick the request up, then approve the first one.
            await anyio.sleep(2.5)
            listener.stdin.write("/approve 1\n")
            listener.stdin.flush()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(answer_when_shown)
                outcome = await session.chokepoint.call(
                    "filesystem", "write_file", {"path": str(outside / "ok.txt"), "content": "y"}
                )
        finally:
            listener.stdin.write("/quit\n")
            listener.stdin.flush()
            listener.wait(timeout=10)
    assert outcome.ok, outcome.text
    assert outcome.escalation["by"] == "listener"
    assert (outside / "ok.txt").read_text() == "y"


def test_killed_session_leaves_a_verifiable_audit_log(tmp_path: Path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    proxy = subprocess.Popen(
        [*CLI, "mcp-proxy", "--sandbox", str(sandbox)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(tmp_path),
    )

    def send(message: dict) -> dict | None:
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        proxy.stdin.flush()
        if "id" not in message:
            return None
        return json.loads(proxy.stdout.readline())

    send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
    )
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i in range(5):
        reply = send(
            {
                "jsonrpc": "2.0",
                "id": 10 + i,
                "method": "tools/call",
                "params": {
                    "name": "filesystem__write_file",
                    "arguments": {"path": f"f{i}.txt", "content": str(i)},
                },
            }
        )
        assert reply["result"]["isError"] is False
    proxy.send_signal(signal.SIGKILL)
    proxy.wait(timeout=10)
    (log,) = (tmp_path / "home" / "sessions").glob("*/audit.jsonl")
    result = verify_file(log)
    assert result.ok and result.entries == 10  # each call: its intent and its record
    assert result.dangling == ()
    # No end record and the proxy is dead: `audit verify` calls it cut (exit 3), not intact.
    done = subprocess.run(
        [*CLI, "audit", "verify", str(log)], capture_output=True, text=True, env=_env(tmp_path)
    )
    assert done.returncode == 3 and done.stdout.startswith("CUT: the log was cut")


def test_audit_verify_detects_tampering(tmp_path: Path):
    from appliance.chokepoint.audit import AuditLog

    log = tmp_path / "audit.jsonl"
    audit = AuditLog.create(log, "s1", settings={}, weakening=[], policy_digest="d")
    for i in range(3):
        audit.append({"server": "filesystem", "tool": "read_file", "decision": "deny", "n": i})
    audit.close()
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace('"deny"', '"allow"')
    log.write_text("\n".join(lines) + "\n")
    done = subprocess.run([*CLI, "audit", "verify", str(log)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "line 3" in done.stdout + done.stderr
