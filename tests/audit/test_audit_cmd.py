"""``ironcurtain audit show|verify`` through the real CLI dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.chokepoint.audit import AuditLog, Signer
from appliance.cli.main import main
from appliance.config.paths import app_paths

CALL = {
    "server": "filesystem",
    "tool": "write_file",
    "arguments": {"path": "/home/u/x.txt", "content": "\x1b]0;pwned\x07\x1b[2J"},
    "decision": "escalate",
    "rule": "escalate-write-home",
    "reason": "asks first\x1b[1A\rallowed by policy",
    "escalation": {"outcome": "approved", "by": "listener"},
    "durationMs": 2.25,
    "status": "ok",
    "policyDigest": "p" * 64,
}


def make_session_log(session_id: str = "s-42", close: bool = True) -> Path:
    path = app_paths().session_dir(session_id) / "audit.jsonl"
    signer = Signer.load_or_create(app_paths().audit_key)  # the installation's key
    log = AuditLog.create(
        path, session_id, {"redaction": False}, ["redaction off"], "p" * 64, signer=signer
    )
    log.append(CALL)
    log.append({**CALL, "decision": "deny", "escalation": None, "status": "denied"})
    if close:
        log.close(mark_end=True)
    return path


def test_verify_by_session_id_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    make_session_log()
    assert main(["audit", "verify", "s-42"]) == 0
    out = capsys.readouterr().out
    assert "INTACT, CLOSED: 4 records" in out and "end record covered by a checkpoint" in out


def test_verify_by_folder_and_by_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = make_session_log(close=False)
    assert main(["audit", "verify", str(path.parent)]) == 3  # no end, session not running
    assert main(["audit", "verify", str(path)]) == 3
    out = capsys.readouterr().out
    assert "CUT: the log was cut: there is no end record and the session is not running" in out


def test_verify_names_the_first_broken_entry(capsys: pytest.CaptureFixture[str]) -> None:
    path = make_session_log()
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"decision":"escalate"', b'"decision":"allow"')
    path.write_bytes(b"\n".join(lines))
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "EDITED: line 2 (record 1): its hash does not match its content" in out


def test_verify_reports_an_incomplete_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = make_session_log(close=False)
    path.write_bytes(path.read_bytes()[:-10])
    assert main(["audit", "verify", "s-42"]) == 3  # cut, not edited: the writer was killed
    out = capsys.readouterr().out
    assert "CUT:" in out and "note: line 3: incomplete last line" in out


def test_verify_missing_log_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "no-such-session"]) == 2
    assert "no audit log at" in capsys.readouterr().err
    assert main(["audit", "show", "/nonexistent/audit.jsonl"]) == 2


def test_show_is_a_readable_table_with_escapes_neutralised(capsys) -> None:
    make_session_log()
    assert main(["audit", "show", "s-42"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "# WARNING: weakened setting: redaction off" in out
    assert "filesystem/write_file" in out and "approved by listener" in out
    assert "escalate-write-home" in out and "2.25" in out
    assert "\\u001b]0;pwned\\u0007" in out  # JSON's own escapes, shown as text
    assert "asks first\\x1b[1A\\rallowed by policy" in out
    assert "(end)" in out and "INTACT, CLOSED" in out


def test_show_survives_raw_escapes_and_garbage_planted_in_the_file(capsys) -> None:
    path = make_session_log()
    with path.open("ab") as handle:
        handle.write(b'{"type":"call","tool":"\x1b[31mred","seq":9}\n\x1b]2;title\x07 not json\n')
    assert main(["audit", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred" in out and "not a JSON record: \\x1b]2;title\\x07" in out
    assert "EDITED: line 6: not valid JSON" in out
    assert main(["audit", "show", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    records = out.splitlines()
    assert json.loads(records[0])["type"] == "header"
    assert json.loads(records[1])["escalation"] == {"outcome": "approved", "by": "listener"}
