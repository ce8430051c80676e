"""`ironcurtain mcp-proxy` while an approval waits, as a real MCP client meets it: the official
SDK client over stdio against the real proxy (real servers, real policy, real audit). The client
is told where to approve, gets progress when it sent a token, and may approve through MCP
elicitation; the listener's files answer too, and the first answer wins."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.audit import verify_file
from appliance.host.atomic import write_text_atomic

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "appliance.cli"]
TIMEOUT_S = 8  # escalationTimeoutSeconds: at least 5 (the config's floor)


def _setup(tmp_path: Path) -> tuple[dict[str, str], Path]:
    home, outside, sandbox = tmp_path / "home", tmp_path / "outside", tmp_path / "sandbox"
    for folder in (home, outside, sandbox):
        folder.mkdir()
    config = {"escalationTimeoutSeconds": TIMEOUT_S, "allowedDirectories": [str(outside)]}
    (home / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "IRONCURTAIN_HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return env, outside


def _params(env: dict[str, str], tmp_path: Path):
    from mcp.client.stdio import StdioServerParameters

    args = [*CLI[1:], "mcp-proxy", "--sandbox", str(tmp_path / "sandbox")]
    return StdioServerParameters(command=CLI[0], args=args, env=env)


def _audit(tmp_path: Path) -> list[dict]:
    (log,) = (tmp_path / "home" / "sessions").glob("*/audit.jsonl")
    assert verify_file(log).ok
    return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]


async def _answer_by_file_after(tmp_path: Path, delay: float, decision: str) -> None:
    """The listener's channel, as `escalation-listener` writes it: bound to the call digest."""
    await anyio.sleep(delay)
    (request,) = (tmp_path / "home" / "sessions").glob("*/escalations/request-*.json")
    asked = json.loads(request.read_text())
    answer = {"id": asked["id"], "decision": decision, "callDigest": asked["callDigest"]}
    write_text_atomic(request.parent / f"response-{asked['id']}.json", json.dumps(answer))


async def test_progress_and_a_warning_while_the_listener_answers(tmp_path: Path):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    env, outside = _setup(tmp_path)
    progress: list[tuple[float, float | None, str | None]] = []
    warnings: list[tuple[str, object]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def on_log(params) -> None:
        warnings.append((params.level, params.data))

    target = outside / "note.txt"
    async with (
        stdio_client(_params(env, tmp_path)) as (read, write),
        ClientSession(read, write, logging_callback=on_log) as client,
    ):
        await client.initialize()
        async with anyio.create_task_group() as group:
            group.start_soon(_answer_by_file_after, tmp_path, 6.0, "approve")
            started = time.monotonic()
            result = await client.call_tool(
                "filesystem__write_file",
                {"path": str(target), "content": "approved by file"},
                progress_callback=on_progress,
            )
            waited = time.monotonic() - started
    assert not result.is_error, result.content
    assert target.read_text() == "approved by file"
    assert 5.5 < waited < TIMEOUT_S
    assert [p[0] for p in progress][:2] == [0.0, 5.0]  # seconds waited, every 5 s
    assert all(total == TIMEOUT_S for _, total, _ in progress)
    assert all("ironcurtain escalation-listener" in (m or "") for _, _, m in progress)
    (level, data) = warnings[0]
    assert level == "warning" and "waiting for approval of filesystem__write_file" in str(data)
    assert "ironcurtain escalation-listener" in str(data)
    (record,) = _audit(tmp_path)
    assert (
        record["escalation"]["by"] == "listener" and record["escalation"]["outcome"] == "approved"
    )


async def test_elicitation_approves_the_call(tmp_path: Path):
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    env, outside = _setup(tmp_path)
    asked: list[str] = []

    async def approve(_context, params) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    target = outside / "elicited.txt"
    async with (
        stdio_client(_params(env, tmp_path)) as (read, write),
        ClientSession(read, write, elicitation_callback=approve) as client,
    ):
        await client.initialize()
        started = time.monotonic()
        result = await client.call_tool(
            "filesystem__write_file", {"path": str(target), "content": "yes"}
        )
        waited = time.monotonic() - started
    assert not result.is_error, result.content
    assert target.read_text() == "yes" and waited < 5
    (message,) = asked
    assert "filesystem__write_file" in message and str(target) in message  # the path in full
    (record,) = _audit(tmp_path)
    assert record["escalation"] == {"outcome": "approved", "by": "mcp-elicitation"}
    assert record["callDigest"] in message  # the answer is bound to this exact call


@pytest.mark.parametrize(
    "answer",
    [
        {"action": "decline"},
        {"action": "cancel"},
        {"action": "accept", "content": {"approve": "yes"}},  # not a boolean: not an answer
        "error",
    ],
    ids=["decline", "cancel", "malformed", "error"],
)
async def test_no_answer_from_the_client_is_denied_at_the_timeout(tmp_path: Path, answer):
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    env, outside = _setup(tmp_path)

    async def refuse(_context, _params):
        if answer == "error":
            return types.ErrorData(code=-32603, message="the user closed the dialog")
        return types.ElicitResult(**answer)

    target = outside / "never.txt"
    async with (
        stdio_client(_params(env, tmp_path)) as (read, write),
        ClientSession(read, write, elicitation_callback=refuse) as client,
    ):
        await client.initialize()
        started = time.monotonic()
        result = await client.call_tool(
            "filesystem__write_file", {"path": str(target), "content": "no"}
        )
        waited = time.monotonic() - started
    assert result.is_error and result.content[0].text.startswith("ESCALATION DENIED")
    assert not target.exists()
    assert waited >= TIMEOUT_S - 0.5  # no early denial: the listener could still have answered
    (record,) = _audit(tmp_path)
    assert record["escalation"]["outcome"] == "timeout"


async def test_a_declined_elicitation_leaves_the_listener_free_to_answer(tmp_path: Path):
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    env, outside = _setup(tmp_path)

    async def decline(_context, _params) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    target = outside / "by-file.txt"
    async with (
        stdio_client(_params(env, tmp_path)) as (read, write),
        ClientSession(read, write, elicitation_callback=decline) as client,
    ):
        await client.initialize()
        async with anyio.create_task_group() as group:
            group.start_soon(_answer_by_file_after, tmp_path, 2.0, "approve")
            result = await client.call_tool(
                "filesystem__write_file", {"path": str(target), "content": "file"}
            )
    assert not result.is_error and target.read_text() == "file"
    (record,) = _audit(tmp_path)
    assert record["escalation"] == {"outcome": "approved", "by": "listener"}


class _Wire:
    """The proxy spoken to line by line, to send what no SDK client would (forged, late)."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        import subprocess

        args = [*CLI, "mcp-proxy", "--sandbox", str(tmp_path / "sandbox")]
        self.proc = subprocess.Popen(
            args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        self.proc.stdin.flush()

    def until(self, wanted) -> dict:
        while True:
            line = self.proc.stdout.readline()
            assert line, "the proxy closed its output"
            message = json.loads(line)
            if wanted(message):
                return message

    def call(self, request_id: int, path: Path) -> None:
        arguments = {"path": str(path), "content": "x"}
        params = {"name": "filesystem__write_file", "arguments": arguments}
        self.send({"id": request_id, "method": "tools/call", "params": params})


def test_forged_and_late_elicitation_answers_approve_nothing(tmp_path: Path):
    env, outside = _setup(tmp_path)
    wire = _Wire(env, tmp_path)
    try:
        wire.send({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "t", "version": "0"}}})  # fmt: skip
        wire.until(lambda m: m.get("id") == 1)
        wire.send({"method": "notifications/initialized"})
        wire.call(2, outside / "a.txt")
        first = wire.until(lambda m: m.get("method") == "elicitation/create")
        yes = {"action": "accept", "content": {"approve": True}}
        for forged in ("ic-" + "0" * 32, 7, None, first["id"] + "x"):
            wire.send({"id": forged, "result": yes})  # not the pending request: dropped
        wire.send({"id": first["id"], "result": {"action": "accept", "content": {"approve": 1}}})
        denied = wire.until(lambda m: m.get("id") == 2)
        assert denied["result"]["isError"]
        assert denied["result"]["content"][0]["text"].startswith("ESCALATION DENIED")
        wire.send({"id": first["id"], "result": yes})  # late: the escalation has ended
        wire.call(3, outside / "a.txt")  # the very same call again: a new question
        second = wire.until(lambda m: m.get("method") == "elicitation/create")
        assert second["id"] != first["id"]
        wire.send(
            {"id": second["id"], "result": {"action": "accept", "content": {"approve": False}}}
        )
        refused = wire.until(lambda m: m.get("id") == 3)
        assert refused["result"]["isError"]
    finally:
        wire.proc.stdin.close()
        wire.proc.wait(timeout=30)
    assert not (outside / "a.txt").exists()
    first_record, second_record = _audit(tmp_path)
    assert first_record["escalation"]["outcome"] == "timeout"
    assert second_record["escalation"] == {"outcome": "denied", "by": "mcp-elicitation"}
