"""An unreachable provider, seen through a real session: the operator is told at the first
failure, and the session ends (exit 3) after three in a row instead of retrying for minutes."""

from __future__ import annotations

import json
import secrets
import socket
import time

import pytest

from appliance.docker.adapters import RELAY_PORT
from tests.docker.docker_helpers import run_script

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

# Unique per run, as real session ids are: a container an aborted run left behind under a fixed
# name would otherwise refuse this one's (the next start's remove_stale clears it).
SESSION = f"unreachable-{secrets.token_hex(3)}"


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused, at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def retrying_agent() -> str:
    """Like an agent with back-off: an LLM request every 0.3 s, 20 times, then a long wait."""
    request = (
        "printf 'POST /v1/messages HTTP/1.1\\r\\nHost: api.anthropic.com\\r\\nx-api-key: %s"
        "\\r\\ncontent-type: application/json\\r\\ncontent-length: 16\\r\\nconnection: close"
        '\\r\\n\\r\\n{"max_tokens":5}\' "$ANTHROPIC_API_KEY"'
    )
    return "\n".join([
        "socat TCP-LISTEN:9443,bind=127.0.0.1,fork,reuseaddr "
        f"PROXY:127.0.0.1:api.anthropic.com:443,proxyport={RELAY_PORT} & sleep 0.3",
        f"for i in $(seq 1 20); do ({request}; sleep 1) | socat -t 2 - "
        "OPENSSL:127.0.0.1:9443,cafile=/run/ironcurtain/ca.pem,snihost=api.anthropic.com,"
        "commonname=api.anthropic.com > answer.txt 2>&1; "
        'echo "LLM $i $(head -1 answer.txt)"; sleep 0.3; done',
        "sleep 60; echo NOT-STOPPED",
    ])  # fmt: skip


async def test_an_unreachable_provider_is_said_at_once_and_ends_the_session(
    test_image, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("IRONCURTAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    settings = {"upstream_overrides": {"api.anthropic.com": ("127.0.0.1", closed_port())}}
    started = time.monotonic()
    code, output = await run_script(
        test_image, retrying_agent(), sandbox, SESSION, proxy_settings=settings
    )
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 3, (output, err)
    assert "NOT-STOPPED" not in output and "LLM 20" not in output
    lines = [line for line in err.splitlines() if "cannot reach api.anthropic.com" in line]
    assert len(lines) == 1, err
    assert "connect call failed" in lines[0].lower()
    assert "session stopped: the provider api.anthropic.com is unreachable (3 attempts" in err
    assert took < 45, f"{took:.1f} s"
    audit = tmp_path / "home" / "sessions" / SESSION / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    errors = [r for r in records if r.get("type") == "proxy" and r.get("event") == "error"]
    assert len(errors) >= 3 and all(r["status"] is None for r in errors)
