"""OpenTelemetry export of decisions and escalations, against a real OTLP/HTTP receiver on
loopback (``otlp_receiver.py``), configured only by the standard ``OTEL_EXPORTER_OTLP_*``
variables; and against a dead collector, which must cost a call nothing but a counted drop."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from otlp_receiver import OtlpReceiver

from appliance.chokepoint.audit import AuditLog, CheckpointEvery, Signer, verify_file
from appliance.chokepoint.audit.export import OtlpExport

SECRET = "sk-ant-api03-" + "A" * 40
CALL = {
    "server": "filesystem",
    "tool": "write_file",
    "arguments": {"path": "/home/u/notes.txt", "content": f"key={SECRET}"},
    "decision": "escalate",
    "rule": "escalate-write-home",
    "reason": "writes outside the sandbox",
    "escalation": {"outcome": "approved", "by": "listener"},
    "durationMs": 3.5,
    "status": "ok",
    "callDigest": "c" * 64,
    "policyDigest": "p" * 64,
}


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_decisions_reach_a_real_otlp_receiver_redacted(tmp_path: Path, monkeypatch) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        export = OtlpExport()
        log = AuditLog.create(tmp_path / "a.jsonl", "s-otel", {}, [], "p" * 64, observer=export)
        written = log.append(CALL)  # audit redaction off here: the export redacts anyway
        log.append({**CALL, "decision": "deny", "escalation": None, "status": "denied"})
        _wait_for(lambda: len(receiver.records) == 2)
        log.close(mark_end=True)
    first, second = receiver.records
    assert first["path"] == "/v1/logs" and first["content_type"] == "application/x-protobuf"
    assert first["resource"]["service.name"] == "ironcurtain"  # OTEL_SERVICE_NAME would win
    assert first["resource"]["deployment.environment"] == "test"
    assert first["scope"] == "ironcurtain.audit"
    assert first["event_name"] == "ironcurtain.escalation"
    assert first["body"] == "escalate filesystem/write_file (escalation approved by listener)"
    assert first["severity_text"] == "WARN" and first["severity_number"] == 13
    attributes = first["attributes"]
    assert attributes["ironcurtain.session_id"] == "s-otel"
    assert attributes["ironcurtain.seq"] == 1
    assert attributes["ironcurtain.record_hash"] == written["hash"]
    assert attributes["ironcurtain.tool"] == "write_file"
    assert attributes["ironcurtain.decision"] == "escalate"
    assert attributes["ironcurtain.rule"] == "escalate-write-home"
    assert attributes["ironcurtain.escalation.outcome"] == "approved"
    assert attributes["ironcurtain.escalation.by"] == "listener"
    assert attributes["ironcurtain.duration_ms"] == 3.5
    assert SECRET not in attributes["ironcurtain.arguments"]
    assert "[REDACTED:" in attributes["ironcurtain.arguments"]
    assert first["time_unix_nano"] // 1000 > 0
    assert second["event_name"] == "ironcurtain.decision"
    assert second["attributes"]["ironcurtain.decision"] == "deny"
    assert "ironcurtain.escalation.outcome" not in second["attributes"]
    end = json.loads((tmp_path / "a.jsonl").read_bytes().splitlines()[-1])
    assert end["type"] == "end" and end["export"]["sent"] == 2 and end["export"]["dropped"] == 0


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_dead_collector_drops_are_counted_and_audited(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{_dead_port()}")
    export = OtlpExport(queue_size=4)
    signer = Signer.generate()
    log = AuditLog.create(
        tmp_path / "a.jsonl", "s-dead", {}, [], "p" * 64, signer=signer, observer=export,
        every=CheckpointEvery(records=1_000_000, seconds=86_400),
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(50):
        log.append(CALL)
    elapsed = time.perf_counter() - started
    log.close(mark_end=True)
    stats = export.stats()
    assert stats["dropped"] > 0 and stats["sent"] == 0
    assert stats["queued"] + stats["dropped"] - stats["failed"] >= 0
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    end = json.loads(lines[-2])
    assert end["type"] == "end" and end["export"]["dropped"] == stats["dropped"]
    assert verify_file(tmp_path / "a.jsonl", {signer.key_id: signer.public}).status == "closed"
    # Not a benchmark (tests/bench/bench_audit_export.py is): 50 fsynced appends must not have
    # waited on the collector's connection retries (seconds each).
    assert elapsed < 5.0


def test_export_is_off_by_default() -> None:
    from appliance.chokepoint.audit.options import audit_options
    from appliance.config.paths import app_paths
    from appliance.config.settings import Config

    assert audit_options(Config().audit, app_paths())["observer"] is None
    on = Config.model_validate({"audit": {"export": "otlp"}})
    observer = audit_options(on.audit, app_paths())["observer"]
    assert isinstance(observer, OtlpExport)
    observer.close()


def test_bad_export_setting_is_refused() -> None:
    from pydantic import ValidationError

    from appliance.config.settings import Config

    with pytest.raises(ValidationError, match="otlp"):
        Config.model_validate({"audit": {"export": "syslog"}})
