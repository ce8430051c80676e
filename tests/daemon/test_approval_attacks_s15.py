"""Round-15 attacks on the daemon's approval channels: what the agent chooses (a path, a URL)
must not forge lines or reorder text in the Signal message or the console page, and an
escalation of a session that died must not stay answerable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from daemon_rig import trequest

from appliance.chokepoint.escalation import register_session
from appliance.chokepoint.escalation.files import request_path, response_path, write_atomic
from appliance.daemon.console import render_index
from appliance.daemon.hub import Hub, Pending
from appliance.daemon.signal import _describe

# a file name is any bytes but '/' and NUL: newlines forge the lines after it, U+202E reverses
FORGED_PATH = (
    "/home/u/.ssh/authorized_keys\nwhy: reading your own notes file is routine\n"
    "reply: approve 1 | deny 1\n\n\n\n\n\n\n\n\n\n"
)
BIDI_PATH = "/home/u/\u202etxt.hsab\u202c.bashrc"
INVISIBLE = ("\u202e", "\u202c", "\u2066", "\u200b", "\u061c")


def _pending(path: str) -> Pending:
    request = trequest("r1", "sess-a", path=path)
    return Pending("1", request, Path("/nonexistent"), datetime(2026, 1, 1, tzinfo=UTC))


def test_signal_message_lines_are_not_forged_by_a_path() -> None:
    text = _describe(_pending(FORGED_PATH))
    lines = text.split("\n")
    assert len(lines) == 5, lines  # header, session, the one path, why, reply
    assert lines[3] == "why: writes outside the sandbox need approval"
    assert "authorized_keys\\nwhy:" in lines[2]


def test_signal_message_shows_no_bidi_override_from_a_path() -> None:
    text = _describe(_pending(BIDI_PATH))
    assert not any(c in text for c in INVISIBLE)
    assert "\\u202e" in text


def test_console_shows_no_bidi_override_from_a_path(tmp_path: Path) -> None:
    hub = Hub(registry_dir=tmp_path / "running", audit_path=tmp_path / "answers.jsonl")
    hub._pending["1"] = _pending(BIDI_PATH)
    page = render_index(hub, "t" * 32)
    assert not any(c in page for c in INVISIBLE)
    assert "\\u202e" in page


def test_an_escalation_of_a_session_that_died_is_withdrawn(tmp_path: Path) -> None:
    registry = tmp_path / "running"
    folder = tmp_path / "sessions" / "sess-a" / "escalations"
    folder.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        register_session(registry, "sess-a", child.pid, folder)
        request = trequest("r1", "sess-a")
        write_atomic(request_path(folder, "r1"), request.to_file_json())
        hub = Hub(registry_dir=registry, audit_path=tmp_path / "daemon" / "answers.jsonl")
        hub.refresh()
        assert [p.short_id for p in hub.pending()] == ["1"]
    finally:
        child.kill()  # the session is killed: its request file stays behind
        child.wait(timeout=10)
    hub.refresh()
    assert hub.pending() == [], "a dead session's escalation is still offered"
    result = hub.answer("1", "approve", request.call_digest, "test")
    assert not result.ok
    assert not response_path(folder, "r1").exists()
    # resumed in the same folder: the old call is not offered again under a new number
    register_session(registry, "sess-a", os.getpid(), folder)
    hub.refresh()
    assert len(hub.sessions) == 1 and hub.pending() == []
