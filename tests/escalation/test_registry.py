"""The session registry: live sessions found, dead ones cleaned up; the listener lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from appliance.chokepoint.escalation import listener_pid, live_sessions, register_session
from appliance.chokepoint.escalation.registry import LOCK_NAME, ListenerLock, pid_alive


def test_registered_session_is_live_until_closed(tmp_path: Path) -> None:
    registry = tmp_path / "running"
    with register_session(registry, "s-1", os.getpid(), tmp_path / "esc") as registration:
        assert registration.path.stat().st_mode & 0o777 == 0o600
        (entry,) = live_sessions(registry)
        assert entry.session_id == "s-1" and entry.pid == os.getpid()
        assert entry.escalations_dir == tmp_path / "esc"
    assert live_sessions(registry) == []
    assert list(registry.iterdir()) == []


def test_dead_pid_is_skipped_and_its_file_removed(tmp_path: Path) -> None:
    registry = tmp_path / "running"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    register_session(registry, "dead", child.pid, tmp_path / "esc-dead")
    register_session(registry, "alive", os.getpid(), tmp_path / "esc-alive")
    assert [e.session_id for e in live_sessions(registry)] == ["alive"]
    assert sorted(p.name for p in registry.iterdir()) == ["session-alive.json"]


def test_a_killed_unreaped_process_counts_as_dead(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        # Not reaped yet: a zombie still answers kill(pid, 0), but is not a running session.
        deadline = time.monotonic() + 5
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(child.pid)
        assert child.poll() is not None  # only now reaped
    finally:
        child.wait()


def test_unreadable_registry_entries_are_removed(tmp_path: Path) -> None:
    registry = tmp_path / "running"
    registry.mkdir()
    (registry / "session-bad.json").write_text("{not json")
    (registry / "session-odd.json").write_text('{"session_id": "x"}')
    assert live_sessions(registry) == []
    assert list(registry.iterdir()) == []


def test_session_ids_cannot_escape_the_registry(tmp_path: Path) -> None:
    registry = tmp_path / "running"
    registration = register_session(registry, "../../evil", os.getpid(), tmp_path)
    assert registration.path.parent == registry
    assert live_sessions(registry)[0].session_id == "../../evil"


def test_listener_lock_is_single_instance_and_records_the_pid(tmp_path: Path) -> None:
    first, second = ListenerLock(tmp_path), ListenerLock(tmp_path)
    assert first.acquire()
    assert listener_pid(tmp_path) == os.getpid()
    assert not second.acquire()
    first.release()
    assert listener_pid(tmp_path) is None
    with second:
        assert second.acquire()
        assert listener_pid(tmp_path) == os.getpid()
        assert not ListenerLock(tmp_path).acquire()
    assert (tmp_path / LOCK_NAME).read_text() == ""
