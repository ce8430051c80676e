"""A real session with the audit export turned on in the configuration: real servers, the
chokepoint, a real OTLP/HTTP receiver on loopback, and a signed log that verifies as closed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from chokepoint_helpers import session_for

from appliance.chokepoint.audit import verify_file
from appliance.chokepoint.audit.signing import load_public_keys
from appliance.config.settings import Config

sys.path.insert(0, str(Path(__file__).parents[1] / "audit"))
from otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.anyio


async def test_session_exports_decisions_and_signs_its_log(home, tmp_path, monkeypatch):
    sandbox = tmp_path / "sandbox"
    config = Config.model_validate({"escalationTimeoutSeconds": 5, "audit": {"export": "otlp"}})
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        async with session_for(home, sandbox, config=config) as session:
            wrote = await session.chokepoint.call(
                "filesystem", "write_file", {"path": str(sandbox / "a.txt"), "content": "hi"}
            )
            refused = await session.chokepoint.call(
                "filesystem", "read_text_file", {"path": str(home.config_file)}
            )
            deadline = time.monotonic() + 10
            while len(receiver.records) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
    assert wrote.ok and not refused.ok
    decisions = [r["attributes"]["ironcurtain.decision"] for r in receiver.records]
    assert decisions == ["allow", "deny"]
    rules = [r["attributes"]["ironcurtain.rule"] for r in receiver.records]
    assert rules[0] == "structural-sandbox-allow" and rules[1] == refused.decision.rule
    assert {r["attributes"]["ironcurtain.session_id"] for r in receiver.records} == {session.id}
    assert oct(home.audit_key.stat().st_mode & 0o777) == "0o600"
    result = verify_file(session.audit_path, load_public_keys(home.audit_key))
    assert result.status == "closed" and result.checkpoints >= 1
