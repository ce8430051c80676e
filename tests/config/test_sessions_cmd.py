"""`ironcurtain sessions`: listing with counts from the audit log, crash detection, cleaning."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.cli.main import main
from appliance.cli.sessions import list_sessions, parse_age, pid_alive
from appliance.config.paths import app_paths

OLD = (datetime.now(UTC) - timedelta(days=45)).isoformat(timespec="seconds")
NEW = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def make_session(name: str, *, audit: list[object] | None = None, **meta: object) -> Path:
    folder = app_paths().sessions / name
    (folder / "sandbox").mkdir(parents=True)
    if meta:
        (folder / "session.json").write_text(json.dumps({"id": name, **meta}))
    if audit is not None:
        lines = [json.dumps(e) if not isinstance(e, str) else e for e in audit]
        (folder / "audit.jsonl").write_text("\n".join(lines) + "\n")
    return folder


AUDIT = [
    {"type": "header", "sessionId": "s"},
    {"decision": "allow", "status": "ok", "escalation": None},
    {"decision": "deny", "status": "denied", "escalation": None},
    {"decision": "escalate", "status": "ok", "escalation": {"approved": True}},
    {"decision": "escalate", "status": "denied", "escalation": {"approved": False}},
    '{"decision": "allow", "stat',  # torn last line of a crash
]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["sessions", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_counts_calls_denials_and_escalations(capsys, dead_pid, live_pid):
    make_session("a-old", audit=AUDIT, started=OLD, task="tidy\nDownloads", state="finished", pid=1)
    make_session(
        "b-live", audit=[AUDIT[0]], started=NEW, task="live", state="running", pid=live_pid
    )
    make_session("c-dead", started=NEW, task="dead", state="running", pid=dead_pid)
    by_id = {s.id: s for s in list_sessions(app_paths().sessions)}
    assert (by_id["a-old"].calls, by_id["a-old"].denials, by_id["a-old"].escalations) == (4, 2, 2)
    assert by_id["b-live"].state == "running"
    assert by_id["b-live"].calls == 0
    assert by_id["c-dead"].state == "crashed"
    assert by_id["a-old"].state == "finished"
    code, out, _ = run_cli(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "STATE", "CALLS", "DENIED", "ESCALATED", "TASK"]
    assert lines[1].split()[0] == "a-old"  # oldest first
    assert lines[1].split()[2:] == ["finished", "4", "2", "2", "tidy", "Downloads"]


def test_list_json(capsys, dead_pid):
    make_session("x", audit=AUDIT, started=NEW, task="t", state="running", pid=dead_pid)
    code, out, _ = run_cli(capsys, "--json")
    [entry] = json.loads(out)
    assert code == 0
    assert entry["id"] == "x"
    assert entry["state"] == "crashed"
    assert (entry["calls"], entry["denials"], entry["escalations"]) == (4, 2, 2)


def test_damaged_or_partial_sessions_still_list(capsys):
    make_session("no-meta")
    folder = make_session("bad-meta")
    (folder / "session.json").write_text("{not json")
    make_session("list-meta")
    (app_paths().sessions / "list-meta" / "session.json").write_text("[1, 2]")
    states = {s.id: s.state for s in list_sessions(app_paths().sessions)}
    assert states == {"no-meta": "unknown", "bad-meta": "unknown", "list-meta": "unknown"}
    assert run_cli(capsys)[0] == 0


def test_no_sessions_folder(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 0
    assert "no sessions" in out
    assert json.loads(run_cli(capsys, "--json")[1]) == []


def test_clean_removes_old_sessions_but_never_a_running_one(capsys, dead_pid, live_pid):
    make_session("old-done", audit=AUDIT, started=OLD, state="finished", pid=dead_pid)
    make_session("old-crash", started=OLD, state="running", pid=dead_pid)
    make_session("old-live", started=OLD, state="running", pid=live_pid)
    make_session("new-done", started=NEW, state="finished", pid=dead_pid)
    code, out, _ = run_cli(capsys, "clean", "--older-than", "30d", "--dry-run")
    assert code == 0
    assert "would remove" in out
    assert len(list(app_paths().sessions.iterdir())) == 4
    code, out, _ = run_cli(capsys, "clean", "--older-than", "30d")
    assert code == 0
    assert f"removed {app_paths().sessions / 'old-done'}" in out
    assert f"removed {app_paths().sessions / 'old-crash'}" in out
    assert "kept old-live: it is still running" in out
    left = sorted(p.name for p in app_paths().sessions.iterdir())
    assert left == ["new-done", "old-live"]
    code, out, _ = run_cli(capsys, "clean", "--older-than", "1h", "--json")
    assert json.loads(out) == {
        "removed": ["new-done"],
        "keptRunning": ["old-live"],
        "failed": [],
        "dryRun": False,
    }


def test_clean_falls_back_to_the_folder_time_and_skips_symlinks(capsys, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    app_paths().sessions.mkdir(parents=True)
    (app_paths().sessions / "link").symlink_to(outside, target_is_directory=True)
    make_session("fresh-no-meta")
    code, out, _ = run_cli(capsys, "clean", "--older-than", "1d")
    assert code == 0
    assert "nothing to remove" in out
    assert (outside / "keep.txt").exists()
    time.sleep(0.01)
    run_cli(capsys, "clean", "--older-than", "0s")
    assert (outside / "keep.txt").exists()
    assert [p.name for p in app_paths().sessions.iterdir()] == ["link"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("2w", 1209600)]
)
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["30", "d", "-1d", "30 days", "1y"])
def test_bad_ages_are_refused_by_the_parser(capsys, text):
    with pytest.raises(SystemExit) as caught:
        main(["sessions", "clean", f"--older-than={text}"])
    assert caught.value.code == 2
    assert "is not an age like 30d" in capsys.readouterr().err


def test_pid_alive(dead_pid, live_pid):
    assert pid_alive(live_pid) is True
    assert pid_alive(dead_pid) is False
    assert pid_alive(None) is False
    assert pid_alive(0) is False  # 0 would signal our own process group
    assert pid_alive(-1) is False  # -1 would signal every process we may
    assert pid_alive(True) is False


def test_ended_sessions_show_how_they_ended_and_how_to_resume(capsys, live_pid):
    # live_pid stands for a pid number reused by another process after the session ended.
    make_session("a", started=OLD, task="t", state="stopped", reason="budget", pid=live_pid)
    make_session("b", started=OLD, task="t", state="interrupted", pid=live_pid)
    states = {s.id: s.state for s in list_sessions(app_paths().sessions)}
    assert states == {"a": "stopped:budget", "b": "interrupted"}
    code, out, _ = run_cli(capsys)
    assert code == 0 and "continue one with: ironcurtain start --resume ID" in out
    code, out, _ = run_cli(capsys, "clean", "--older-than", "1d")
    assert code == 0
    assert not (app_paths().sessions / "a").exists() and not (app_paths().sessions / "b").exists()
