"""The escalation listener: in process line by line, and as a real subprocess driven over stdin."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from esc_factories import trequest

from appliance.chokepoint.escalation import FileChannel, register_session
from appliance.chokepoint.escalation.files import request_path, response_path, write_atomic
from appliance.chokepoint.escalation.listener import Listener

ROOT = Path(__file__).parents[2]
LISTENER = [sys.executable, "-m", "appliance.cli", "escalation-listener", "--registry"]


def setup_session(tmp_path: Path, session_id: str = "sess-1") -> tuple[Path, Path]:
    registry, esc = tmp_path / "running", tmp_path / session_id / "escalations"
    esc.mkdir(parents=True)
    register_session(registry, session_id, os.getpid(), esc)
    return registry, esc


def put_request(esc: Path, request_id: str, session_id: str = "sess-1", **overrides):
    request = trequest(request_id, session_id, **overrides)
    write_atomic(request_path(esc, request_id), request.to_file_json())
    return request


def test_listener_numbers_requests_and_answers_exactly(tmp_path: Path) -> None:
    registry, esc = setup_session(tmp_path)
    shown: list[str] = []
    listener = Listener(registry, shown.append)
    first = put_request(esc, "r1")
    second = put_request(esc, "r2", arguments={"path": "\x1b[31mred"})
    listener.refresh()
    text = "".join(shown)
    assert "[1] filesystem/write_file [session sess-1]" in text and "[2]" in text
    assert "\x1b" not in text
    assert listener.handle("/approve 1 similar")
    answer = json.loads(response_path(esc, "r1").read_text())
    assert answer == {
        "id": "r1", "decision": "approve", "callDigest": first.call_digest, "scope": "similar"
    }  # fmt: skip
    assert listener.handle("/deny 2")
    answer = json.loads(response_path(esc, "r2").read_text())
    assert answer["decision"] == "deny" and answer["callDigest"] == second.call_digest
    shown.clear()
    listener.handle("/approve 1")
    assert shown == ["no pending escalation 1\n"]


def test_approve_all_and_withdrawn_requests(tmp_path: Path) -> None:
    registry, esc = setup_session(tmp_path)
    shown: list[str] = []
    listener = Listener(registry, shown.append)
    for n in range(3):
        put_request(esc, f"r{n}")
    listener.refresh()
    request_path(esc, "r2").unlink()  # that session timed out meanwhile
    listener.refresh()
    assert "[3] withdrawn (answered elsewhere or timed out)" in "".join(shown)
    listener.handle("/approve all")
    assert sorted(p.name for p in esc.glob("response-*")) == [
        "response-r0.json",
        "response-r1.json",
    ]


def test_requests_of_a_session_that_died_are_withdrawn(tmp_path: Path) -> None:
    registry, esc = tmp_path / "running", tmp_path / "dying" / "escalations"
    esc.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    register_session(registry, "dying", child.pid, esc)
    put_request(esc, "left-behind", session_id="dying")
    shown: list[str] = []
    listener = Listener(registry, shown.append)
    listener.refresh()
    assert "[1] filesystem/write_file [session dying]" in shown[-1]
    child.stdin.close()
    child.wait(timeout=10)
    listener.refresh()
    assert shown[-1] == "[1] withdrawn: its session is no longer running\n"
    listener.handle("/approve 1")
    assert not response_path(esc, "left-behind").exists()


def test_bad_requests_are_ignored_with_a_note(tmp_path: Path) -> None:
    registry, esc = setup_session(tmp_path)
    shown: list[str] = []
    (esc / "request-junk.json").write_text("{")
    put_request(esc, "other", session_id="not-this-session")
    good = trequest("renamed")
    (esc / "request-mismatch.json").write_text(good.to_file_json())
    listener = Listener(registry, shown.append)
    listener.refresh()
    listener.refresh()
    text = "".join(shown)
    assert text.count("ignoring") == 3
    assert "names another session" in text and "does not match its file name" in text
    assert "[1]" not in text


def test_commands_help_and_sessions(tmp_path: Path) -> None:
    registry, _esc = setup_session(tmp_path)
    shown: list[str] = []
    listener = Listener(registry, shown.append)
    listener.refresh()
    assert listener.handle("/sessions")
    assert f"session sess-1 pid {os.getpid()}" in shown[-1] and "0 pending" in shown[-1]
    assert listener.handle("/approve")
    assert shown[-1].startswith("commands:")
    assert listener.handle("/deny 1 similar")
    assert shown[-1].startswith("commands:")
    assert not listener.handle("/quit")


class ListenerProcess:
    """``ironcurtain escalation-listener`` in a subprocess, its stdout read by a thread."""

    def __init__(self, registry: Path) -> None:
        self.proc = subprocess.Popen(
            [*LISTENER, str(registry)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def expect(self, text: str, timeout: float = 10) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if text in line:
                return line

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def listener_process(tmp_path: Path):
    started: list[ListenerProcess] = []

    def start(registry: Path) -> ListenerProcess:
        started.append(ListenerProcess(registry))
        return started[-1]

    yield start
    for process in started:
        process.close()


@pytest.mark.anyio
async def test_listener_subprocess_approves_a_file_channel_request(tmp_path, listener_process):
    registry, esc = setup_session(tmp_path)
    listener = listener_process(registry)
    listener.expect("escalation listener ready: 1 running session(s)")
    second = subprocess.run(
        [*LISTENER, str(registry)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, input="",
    )  # fmt: skip
    assert second.returncode == 1
    assert f"already running (pid {listener.proc.pid})" in second.stderr

    def approver() -> None:
        listener.expect("[1] filesystem/write_file [session sess-1]")
        listener.send("/approve 1")

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    channel = FileChannel(esc, timeout_s=20, registry_dir=registry, poll_s=0.02)
    with anyio.fail_after(20):
        verdict = await channel.ask(trequest("sub1"))
    thread.join(timeout=5)
    assert verdict.approved and verdict.by == "listener"
    listener.expect("[1] approved")
    listener.send("/quit")
    listener.expect("listener stopped")
    assert listener.proc.wait(timeout=10) == 0
    assert (registry / "listener.lock").read_text() == ""
    assert list(esc.iterdir()) == []


@pytest.mark.anyio
async def test_a_killed_listener_means_deny(tmp_path, listener_process):
    registry, esc = setup_session(tmp_path)
    listener = listener_process(registry)
    listener.expect("escalation listener ready")

    def crash() -> None:
        listener.expect("[1] filesystem/write_file")
        listener.proc.kill()

    threading.Thread(target=crash, daemon=True).start()
    channel = FileChannel(esc, timeout_s=20, registry_dir=registry, poll_s=0.02)
    with anyio.fail_after(20):
        verdict = await channel.ask(trequest("crash1"))
    assert not verdict.approved and "exited without answering" in verdict.note
    assert list(esc.iterdir()) == []
