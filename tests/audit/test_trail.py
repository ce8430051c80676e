"""The audit trail end to end through the CLI: a killed writer verifies as cut, a running
session as open, checkpoints every N records, the key exported and used elsewhere, old logs
still read, and ``show``'s filters and summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.chokepoint.audit import AuditLog, CheckpointEvery, Signer, verify_file
from appliance.chokepoint.escalation.registry import register_session
from appliance.cli.audit_cmd import trusted_keys
from appliance.cli.main import main
from appliance.config.paths import app_paths

CALL = {"server": "filesystem", "tool": "read_text_file", "arguments": {"path": "/s/a"},
        "decision": "allow", "rule": "sandbox-containment", "status": "ok"}  # fmt: skip
ROOT = Path(__file__).parents[2]

WRITER = """
import sys
from pathlib import Path
from appliance.chokepoint.audit import AuditLog, CheckpointEvery, Signer
signer = Signer.load_or_create(Path(sys.argv[2]))
log = AuditLog.create(Path(sys.argv[1]), "killed", {}, [], "p", signer=signer,
                      every=CheckpointEvery(records=10, seconds=3600))
n = 0
while True:
    log.append({"server": "s", "tool": "t", "arguments": {"pad": "x" * 200_000}, "n": n})
    n += 1
    if n == 30:
        print("ready", flush=True)
"""


def test_sigkill_mid_write_verifies_as_cut_with_complete_records_intact(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(app_paths().audit_key)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.stdout.close()
    assert main(["audit", "verify", str(path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith("CUT: the log was cut: there is no end record")
    result = verify_file(path, trusted_keys([]))
    complete = path.read_bytes().rsplit(b"\n", 1)[0].split(b"\n")
    assert result.entries == len(complete) - 1 >= 30
    assert result.checkpoints >= 2  # every 10 records, off the call path
    assert result.truncated == (not path.read_bytes().endswith(b"\n"))
    # every complete record still verifies: cut back to the last newline, the log is intact
    path.write_bytes(b"\n".join(complete) + b"\n")
    assert verify_file(path, trusted_keys([])).status == "cut"


def test_running_session_verifies_as_open(capsys) -> None:
    paths = app_paths()
    path = paths.session_dir("s-run") / "audit.jsonl"
    log = AuditLog.create(path, "s-run", {}, [], "p", signer=Signer.load_or_create(paths.audit_key))
    log.append(CALL)
    with register_session(paths.registry, "s-run", os.getpid(), path.parent / "escalations"):
        assert main(["audit", "verify", "s-run"]) == 4
        assert "INTACT, OPEN: the session is still running" in capsys.readouterr().out
    assert main(["audit", "verify", "s-run"]) == 3  # not running any more, no end: cut
    log.close(mark_end=True)
    assert main(["audit", "verify", "s-run"]) == 0


def test_checkpoints_every_n_records_and_at_end(tmp_path: Path) -> None:
    signer = Signer.generate()
    log = AuditLog.create(
        tmp_path / "a.jsonl", "s", {}, [], "p", signer=signer,
        every=CheckpointEvery(records=5, seconds=3600),
    )  # fmt: skip
    for _ in range(12):
        log.append(CALL)
        time.sleep(0.01)  # let the background thread sign
    log.close(mark_end=True)
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_bytes().splitlines()]
    kinds = [r["type"] for r in records]
    assert kinds.count("checkpoint") >= 3 and kinds[-2:] == ["end", "checkpoint"]
    assert records[-1]["head"]["seq"] == records[-2]["seq"]
    assert verify_file(tmp_path / "a.jsonl", {signer.key_id: signer.public}).status == "closed"


def test_checkpoints_every_t_seconds(tmp_path: Path) -> None:
    signer = Signer.generate()
    log = AuditLog.create(
        tmp_path / "a.jsonl", "s", {}, [], "p", signer=signer,
        every=CheckpointEvery(records=1000, seconds=0.2),
    )  # fmt: skip
    log.append(CALL)
    time.sleep(0.6)
    kinds = [json.loads(x)["type"] for x in (tmp_path / "a.jsonl").read_bytes().splitlines()]
    log.close()
    assert kinds == ["header", "call", "checkpoint"]  # one per new head, none when idle


def test_export_key_lets_another_installation_verify(tmp_path, monkeypatch, capsys) -> None:
    assert main(["audit", "export-key"]) == 2  # no key before the first session
    path = app_paths().session_dir("s-x") / "audit.jsonl"
    key_file = app_paths().audit_key
    with AuditLog.create(path, "s-x", {}, [], "p", signer=Signer.load_or_create(key_file)) as log:
        log.append(CALL)
        log.close(mark_end=True)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert main(["audit", "export-key"]) == 0
    exported = capsys.readouterr().out
    assert "BEGIN PUBLIC KEY" in exported and "PRIVATE" not in exported
    public = tmp_path / "their.pem"
    public.write_text(exported)
    monkeypatch.setenv("IRONCURTAIN_HOME", str(tmp_path / "other-home"))  # no key of its own
    assert main(["audit", "verify", str(path)]) == 5
    assert "not a trusted key here" in capsys.readouterr().out
    assert main(["audit", "verify", str(path), "--key", str(public)]) == 0
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(Signer.generate().public_pem())
    assert main(["audit", "verify", str(path), "--key", str(stranger)]) == 5


def test_format_1_log_is_read_and_says_what_it_cannot_check(tmp_path, capsys) -> None:
    import hashlib

    header = {"type": "header", "v": 1, "seq": 0, "ts": "2026-01-01T00:00:00.000000Z",
              "sessionId": "old", "settings": {}, "weakening": [], "policyDigest": "p",
              "prev": None}  # fmt: skip
    lines = [json.dumps(header, separators=(",", ":")).encode()]
    record = {"v": 1, "type": "call", "seq": 1, "ts": "2026-01-01T00:00:01.000000Z",
              "sessionId": "old", **CALL, "prev": hashlib.sha256(lines[0]).hexdigest()}  # fmt: skip
    lines.append(json.dumps(record, separators=(",", ":")).encode())
    path = tmp_path / "old.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["audit", "verify", str(path)]) == 5
    out = capsys.readouterr().out
    assert "UNPROVEN: format 1 log" in out and "cannot be detected" in out
    log = AuditLog.open_existing(path)  # a resumed old session continues in format 1
    log.append(CALL)
    log.close(mark_end=True)
    assert verify_file(path).version == 1 and verify_file(path).ok
    lines[1] = lines[1].replace(b'"allow"', b'"deny"')
    path.write_bytes(b"\n".join(lines) + b"\n" + path.read_bytes().split(b"\n", 2)[2])
    assert main(["audit", "verify", str(path)]) == 1


def _session_with_mixed_calls() -> Path:
    path = app_paths().session_dir("s-show") / "audit.jsonl"
    with AuditLog.create(path, "s-show", {}, [], "p") as log:
        log.append(CALL)
        log.append({**CALL, "tool": "write_file", "decision": "deny", "status": "denied"})
        log.append({**CALL, "server": "git", "tool": "git_push", "decision": "escalate",
                    "escalation": {"outcome": "approved", "by": "listener"}})  # fmt: skip
        log.append({**CALL, "server": "git", "tool": "git_push", "decision": "escalate",
                    "escalation": {"outcome": "timeout", "by": "chokepoint"},
                    "status": "denied"})  # fmt: skip
        log.close(mark_end=True)
    return path


def test_show_filters_json_and_summary(capsys) -> None:
    _session_with_mixed_calls()
    assert main(["audit", "show", "s-show", "--decision", "deny", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tool"] for r in rows] == ["write_file"]
    assert main(["audit", "show", "s-show", "--tool", "git__git_push", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["audit", "show", "s-show", "--since", "1h", "--tool", "git/git_push"]) == 0
    out = capsys.readouterr().out
    assert out.count("git/git_push") == 2 and "filesystem/write_file" not in out
    assert (
        "# session s-show: 4 calls, 2 denied, 2 escalations "
        "(1 approved by listener, 1 timeout by chokepoint)"
    ) in out
    assert main(["audit", "show", "s-show", "--since", "2999-01-01T00:00", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "show", "s-show", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6  # unfiltered: every line


def test_since_refuses_nonsense(capsys) -> None:
    _session_with_mixed_calls()
    with pytest.raises(SystemExit):
        main(["audit", "show", "s-show", "--since", "yesterday"])
    assert "--since 'yesterday'" in capsys.readouterr().err
