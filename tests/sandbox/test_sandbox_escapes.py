"""Escape attempts, kept as data in tests/vectors/sandbox/*.json, run as guest code.

Each case names what must happen (an error kind, an exception type, a result); on top of that
every case must leave the host's secret and environment invisible and the host able to run the
next execution.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from appliance.sandbox import Limits

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sandbox"
SECRET = "ic-probe-7f3a9c-do-not-leak"
_SMALL = {"fuel": 2_000_000_000, "wall_seconds": 5.0, "memory_bytes": 96 * 1024 * 1024}


def _cases() -> list:
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}:{case['id']}"))
    return params


@pytest.fixture
def listener():
    """A live TCP listener on loopback: a sandbox that could connect anywhere would reach it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    yield server
    server.close()


def _was_contacted(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def _check(expect: dict, result, host_calls: int, server: socket.socket) -> None:
    error = result.error
    if "error_kind" in expect:
        assert error is not None and error.kind == expect["error_kind"], result
    if "error_kind_in" in expect:
        assert error is not None and error.kind in expect["error_kind_in"], result
    if "error_type_in" in expect:
        assert error is not None and error.type in expect["error_type_in"], result
    if "message_contains" in expect:
        assert expect["message_contains"] in error.message, result
    if "result" in expect:
        assert error is None, result
        assert result.result == expect["result"]
    if "agent_text_contains" in expect:
        assert expect["agent_text_contains"] in result.to_agent_text()
    if "output_truncated" in expect:
        assert result.output_truncated is expect["output_truncated"]
    if "stdout_max_chars" in expect:
        assert len(result.stdout) <= expect["stdout_max_chars"]
    if "tool_calls_to_host" in expect:
        assert host_calls == expect["tool_calls_to_host"]
    if "max_duration_s" in expect:
        assert result.duration_s <= expect["max_duration_s"]
    if expect.get("listener_untouched"):
        assert not _was_contacted(server)


@pytest.mark.parametrize("case", _cases())
def test_escape_attempt(case, sandbox, catalog, listener, monkeypatch):
    monkeypatch.setenv("IRONCURTAIN_PROBE_SECRET", SECRET)
    code = case["code"].replace("{LISTEN_PORT}", str(listener.getsockname()[1]))
    limits = Limits(**{**_SMALL, **case.get("limits", {})})
    calls: list[str] = []

    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        calls.append(name)
        return True, json.dumps({"ok": True})

    result = sandbox.run(code, call_tool, catalog, limits)
    _check(case["expect"], result, len(calls), listener)
    assert SECRET not in result.to_json()
    # The host is unharmed: the next execution works as usual.
    assert sandbox.run("6 * 7", call_tool, catalog).result == "42"
