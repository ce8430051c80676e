"""Every reader of the audit log meets ``intent`` records as what they are: the durable note,
written before a server is called, that a call went ahead. Its call record follows and names it
(``intent``: the intent's seq); when none does, the host died while the server worked and the
call's outcome is unknown. A resumed session writes ``outcome-unknown`` for it.

Readers: verify (chain, and the calls left dangling), show (table, summary, --json filters),
the OTLP export, policy replay, ``sessions`` counts, the console page and the resumed session's
state (a call's state update counted once)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from otlp_receiver import OtlpReceiver
from test_export_otlp import _wait_for

from appliance.chokepoint.audit import AuditLog, Signer, verify_file
from appliance.chokepoint.audit.export import OtlpExport
from appliance.chokepoint.session_guard import restore
from appliance.cli.audit_show import show, summary
from appliance.cli.sessions import list_sessions
from appliance.config.paths import app_paths
from appliance.daemon.pages import render_session
from appliance.session.core import report_unknown_outcomes
from policy.api import SessionRun, default_policy_dir, load_policy
from policy.compiler.replay import replay_audit
from policy.models import EvalContext

DIGEST = "c" * 64


def _intent(tool: str, rule: str = "allow-sandbox-writes", **extra) -> dict:
    return {"type": "intent", "server": "filesystem", "tool": tool, "decision": "allow",
            "rule": rule, "callDigest": DIGEST, **extra}  # fmt: skip


def _call(tool: str, intent: int | None, **extra) -> dict:
    record = {"server": "filesystem", "tool": tool, "arguments": {"path": f"/s/{tool}"},
              "decision": "allow", "rule": "allow-sandbox-writes", "reason": "r",
              "escalation": None, "durationMs": 1.0, "status": "ok", "callDigest": DIGEST,
              "policyDigest": "p" * 64, **extra}  # fmt: skip
    if intent is not None:
        record["intent"] = intent
    return record


def _session_log(session_id: str = "s-int", *, close: bool = False) -> Path:
    """write_file went ahead and answered; edit_file went ahead and never answered (the host
    died: the log is left as the writer left it); a denied call has no intent."""
    path = app_paths().session_dir(session_id) / "audit.jsonl"
    signer = Signer.load_or_create(app_paths().audit_key)
    log = AuditLog.create(path, session_id, {}, [], "p" * 64, signer=signer)
    first = log.append(_intent("write_file", sessionUpdate={"count": {"writes": 1}}))
    log.append(_call("write_file", first["seq"], sessionUpdate={"count": {"writes": 1}}))
    log.append(_call("move_file", None, decision="deny", rule="deny-delete", status="denied"))
    log.append(_intent("edit_file", sessionUpdate={"count": {"writes": 1}}))
    if close:
        log.close(mark_end=True)
    else:
        log.close()  # no end record: as a killed host leaves it (closed here to free the fd)
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_names_the_intent_with_no_call_record() -> None:
    path = _session_log()
    result = verify_file(path)
    assert result.ok and result.entries == 4
    (dangling,) = result.dangling
    assert (dangling.seq, dangling.tool, dangling.reported) == (4, "edit_file", None)
    (note,) = [n for n in result.notes if "edit_file" in n]
    assert note.startswith("record 4 (")
    assert "filesystem/edit_file (allow by allow-sandbox-writes)" in note
    assert note.endswith("may have had its effect: outcome unknown")
    assert not any("write_file" in n for n in result.notes)  # answered: not dangling


def test_verify_while_the_session_runs_says_in_flight() -> None:
    path = _session_log()
    result = verify_file(path, running=lambda _: True)
    assert result.status == "open"
    assert any(n.endswith("no result recorded yet (in flight)") for n in result.notes)


def test_a_call_record_naming_no_open_intent_closes_nothing() -> None:
    path = app_paths().session_dir("s-odd") / "audit.jsonl"
    log = AuditLog.create(path, "s-odd", {}, [], "p" * 64)
    log.append(_intent("write_file"))
    log.append(_call("write_file", 99))  # names a seq that is no intent
    log.append(_call("write_file", True))  # a bool is not a seq
    log.close()
    assert [d.seq for d in verify_file(path).dangling] == [1]


def test_resume_reports_once_and_verify_keeps_the_report() -> None:
    path = _session_log()
    out = io.StringIO()
    signer = Signer.load_or_create(app_paths().audit_key)
    log = AuditLog.open_existing(path, signer=signer)
    assert report_unknown_outcomes(log, out) == 1
    log.close(mark_end=True)
    said = out.getvalue()
    assert "session s-int stopped while a call was at its server: record 4 (" in said
    assert "filesystem/edit_file" in said and "not run again" in said
    report = _lines(path)[5]
    assert report["type"] == "outcome-unknown" and report["intent"] == 4
    assert (report["tool"], report["decision"], report["callDigest"]) == (
        "edit_file",
        "allow",
        DIGEST,
    )
    assert "arguments" not in report
    again = AuditLog.open_existing(path, signer=signer)
    assert report_unknown_outcomes(again, io.StringIO()) == 0  # said once, never again
    again.close(mark_end=True)
    result = verify_file(path, {signer.key_id: signer.public})
    assert result.status == "closed"
    assert [(d.seq, d.reported) for d in result.dangling] == [(4, report["seq"])]
    assert any(n.endswith(f"(reported when the session resumed, record {report['seq']})")
               for n in result.notes)  # fmt: skip


def _args(**given) -> argparse.Namespace:
    return argparse.Namespace(**{"json": False, "decision": None, "tool": None, "since": None,
                                 **given})  # fmt: skip


def test_show_hides_answered_intents_and_shows_the_unanswered_one(capsys) -> None:
    path = _session_log()
    show(path.read_bytes(), _args())
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "filesystem/" in line]
    assert [r.split()[0] for r in rows] == ["2", "3", "4"]  # the write's intent (1) is hidden
    assert rows[-1].split()[-2] == "unknown"  # (status, then ms)
    assert "outcome unknown: sent to its server, no result recorded" in out
    assert "3 calls, 1 denied" in out and "1 sent with outcome unknown" in out


def test_show_json_filters_keep_calls_only(capsys) -> None:
    path = _session_log()
    show(path.read_bytes(), _args(json=True, decision="allow"))
    kept = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["type"], r["tool"]) for r in kept] == [("call", "write_file"),
                                                      ("intent", "edit_file")]  # fmt: skip
    show(path.read_bytes(), _args(json=True))  # unfiltered: every line, intents too
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_summary_of_a_log_without_intents_is_unchanged() -> None:
    records = [{"type": "header", "sessionId": "s"}, _call("write_file", None) | {"type": "call"}]
    assert summary(records) == "# session s: 1 calls, 0 denied, 0 escalations (none)"


def test_replay_skips_intents_and_unknown_outcomes() -> None:
    path = _session_log()
    log = AuditLog.open_existing(path)
    report_unknown_outcomes(log, io.StringIO())
    log.close(mark_end=True)
    policy = load_policy(default_policy_dir())
    context = EvalContext(home="/home/user", sandbox="/s")
    changes, replayed = replay_audit(path.read_text().splitlines(), policy, lambda _: context)
    assert replayed == 2  # the two call records; no intent, no outcome-unknown
    assert {c.tool for c in changes} <= {"write_file", "move_file"}


def test_sessions_counts_calls_not_intents() -> None:
    _session_log("s-count")
    (summary_,) = [s for s in list_sessions(app_paths().sessions) if s.id == "s-count"]
    assert (summary_.calls, summary_.denials) == (2, 1)


def test_console_page_rows_are_calls_and_names_the_unknown_one() -> None:
    path = _session_log("s-page")
    log = AuditLog.open_existing(path)
    report_unknown_outcomes(log, io.StringIO())
    log.close(mark_end=True)
    page = render_session(app_paths(), "s-page")
    assert page.count("<tr><td>") == 3  # write, move, and the unknown edit (no intent rows)
    assert "outcome unknown" in page and "filesystem/edit_file" in page


def test_restore_counts_each_call_once() -> None:
    path = _session_log()
    run = SessionRun(load_policy(default_policy_dir()))
    restore(run, _lines(path))
    # the answered write counted at its intent (its record names it), the unanswered one too
    assert run.state.counters == {"writes": 2}
    old = SessionRun(load_policy(default_policy_dir()))  # a log from before intents
    restore(old, [_call("write_file", None, sessionUpdate={"count": {"writes": 1}})])
    assert old.state.counters == {"writes": 1}


def test_export_sends_call_records_and_unknown_outcomes_not_intents(
    tmp_path: Path, monkeypatch
) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        export = OtlpExport()
        log = AuditLog.create(tmp_path / "a.jsonl", "s-x", {}, [], "p" * 64, observer=export)
        log.append(_intent("write_file"))
        log.append(_call("write_file", 1))
        log.append(_intent("edit_file"))
        log.append({"type": "outcome-unknown", "intent": 3, "server": "filesystem",
                    "tool": "edit_file", "decision": "allow", "rule": "r",
                    "callDigest": DIGEST})  # fmt: skip
        _wait_for(lambda: len(receiver.records) == 2)
        log.close(mark_end=True)
    sent, unknown = receiver.records
    assert sent["event_name"] == "ironcurtain.decision"
    assert sent["attributes"]["ironcurtain.tool"] == "write_file"
    assert unknown["event_name"] == "ironcurtain.outcome_unknown"
    assert unknown["attributes"]["ironcurtain.status"] == "outcome-unknown"
    assert unknown["attributes"]["ironcurtain.seq"] == 4
