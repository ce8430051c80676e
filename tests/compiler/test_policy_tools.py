"""``policy diff`` and ``policy replay``: no LLM, the real engine, fixtures built from the
shipped policy and a real audit log (written by the appliance's own ``AuditLog``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from appliance.chokepoint.audit import AuditLog
from appliance.cli.main import main
from policy.loader import default_policy_dir

SHIPPED = default_policy_dir()


def _tightened(tmp_path: Path) -> Path:
    """The shipped policy without Documents reads, and with news fetches escalated."""
    folder = tmp_path / "tight"
    shutil.copytree(SHIPPED, folder)
    path = folder / "compiled-policy.json"
    data = json.loads(path.read_text())
    data["rules"] = [r for r in data["rules"] if r["name"] != "allow-documents-read"]
    for rule in data["rules"]:
        if rule["name"] == "allow-fetch-news-sites":
            rule["then"] = "escalate"
    path.write_text(json.dumps(data))
    return folder


def test_diff_of_a_policy_with_itself_is_empty(capsys):
    assert main(["policy", "diff", str(SHIPPED), str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert "no differences" in out and "0 of 64 scenarios decided differently" in out


def test_diff_names_rules_and_decisions_that_changed(tmp_path, capsys):
    assert main(["policy", "diff", str(SHIPPED), str(_tightened(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "- rule allow-documents-read" in out
    assert "~ rule allow-fetch-news-sites" in out
    assert "-> escalate (allow-fetch-news-sites)" in out
    assert "allow (allow-documents-read) -> escalate (escalate-read-elsewhere)" in out


def test_diff_of_a_broken_folder_says_which_file(tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(SHIPPED, broken)
    (broken / "compiled-policy.json").write_text('{"rules": [{"name": ""}]}')
    assert main(["policy", "diff", str(SHIPPED), str(broken)]) == 2
    assert "compiled-policy.json: $.rules[0]" in capsys.readouterr().err


@pytest.fixture
def audit_log(tmp_path) -> Path:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s1", {"sandbox": str(sandbox)}, [], "digest")
    documents = str(Path.home() / "Documents" / "plan.txt")
    calls = [
        ("filesystem", "read_text_file", {"path": str(sandbox / "a.txt")}, "allow"),
        ("filesystem", "read_text_file", {"path": documents}, "allow"),
        ("fetch", "http_fetch", {"url": "https://www.bbc.com/news?t=[REDACTED:api-key]"}, "allow"),
        ("fetch", "http_fetch", {"url": "https://example.org/"}, "escalate"),
    ]
    for server, tool, arguments, decision in calls:
        log.append({"server": server, "tool": tool, "arguments": arguments, "decision": decision})
    log.append({"type": "session-end", "reason": "done"})
    log.close()
    return path


def test_replay_under_the_same_policy_changes_nothing(audit_log, capsys):
    assert main(["policy", "replay", str(audit_log), "--policy-dir", str(SHIPPED)]) == 0
    assert "0 of 4 calls would be decided differently" in capsys.readouterr().out


def test_replay_lists_each_call_a_tighter_policy_would_decide_differently(
    audit_log, tmp_path, capsys
):
    tight = _tightened(tmp_path)
    assert main(["policy", "replay", str(audit_log), "--policy-dir", str(tight)]) == 1
    out = capsys.readouterr().out.splitlines()
    changed = [line for line in out if line.startswith("line ")]
    assert changed == [
        "line 3: filesystem/read_text_file: allow -> escalate (escalate-read-elsewhere)",
        "line 4: fetch/http_fetch: allow -> escalate (allow-fetch-news-sites)"
        "  [arguments were redacted in the log: judged as redacted]",
    ]
    assert "2 of 4 calls would be decided differently" in out


def test_replay_of_a_damaged_log_names_the_line(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"type": "header", "settings": {}}\n{"server": "fetch", oops\n')
    assert main(["policy", "replay", str(path), "--policy-dir", str(SHIPPED)]) == 2
    assert f"{path}: line 2" in capsys.readouterr().err


def test_policy_test_exits_1_on_a_failing_scenario(tmp_path, capsys):
    tight = _tightened(tmp_path)
    assert main(["policy", "test", "--policy-dir", str(tight)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_replay_takes_a_session_id_or_its_folder(audit_log, capsys):
    from appliance.config.paths import app_paths

    session = app_paths().session_dir("20261204-abc123")
    session.mkdir(parents=True)
    shutil.copy(audit_log, session / "audit.jsonl")
    for target in ("20261204-abc123", str(session)):
        assert main(["policy", "replay", target, "--policy-dir", str(SHIPPED)]) == 0
        assert "0 of 4 calls would be decided differently" in capsys.readouterr().out


def test_replay_of_an_unknown_session_is_one_clean_line(capsys):
    assert main(["policy", "replay", "no-such-session", "--policy-dir", str(SHIPPED)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ironcurtain policy replay: no audit log at ")
    assert "no-such-session" in err and "`ironcurtain sessions` lists" in err
    assert "Traceback" not in err and "got None" not in err and len(err.splitlines()) == 1
