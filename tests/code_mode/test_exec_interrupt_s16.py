"""Ctrl-C during `ironcurtain exec` ends it with one word, not a traceback: a tool call the
snippet makes after the event loop has finished ends the sandbox run (it was logged with a
RunFinishedError traceback on the user's terminal, and the snippet ran on to its deadline)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "appliance.cli"]

SNIPPET = """
import time
for i in range(200):
    start = time.monotonic()
    while time.monotonic() - start < 0.05:
        pass
    filesystem.write_file(path=f"f{i:03d}.txt", content="x")
"""


def _exec_running(cli_env, tmp_path: Path, code: str, started) -> tuple[subprocess.Popen, Path]:
    """``exec`` of ``code`` in a fresh sandbox folder, once ``started(work)`` says it runs."""
    work = tmp_path / "work"
    work.mkdir()
    snippet = tmp_path / "snippet.py"
    snippet.write_text(code)
    child = subprocess.Popen(
        [*CLI, "exec", str(snippet), "--sandbox", str(work), "--text"], env=cli_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not started(work) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, work


def test_ctrl_c_during_exec_ends_it_without_a_traceback(cli_env, tmp_path: Path):
    child, work = _exec_running(cli_env, tmp_path, SNIPPET, lambda w: any(w.iterdir()))
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "RunFinishedError" not in err, err
    written = len(list(work.iterdir()))
    time.sleep(0.5)
    assert len(list(work.iterdir())) == written < 200


BUSY = """
filesystem.write_file(path="started.txt", content="x")
while True:
    pass
"""


def _busy_started(work: Path) -> bool:
    return (work / "started.txt").exists()


def test_ctrl_c_stops_guest_code_that_makes_no_tool_call(cli_env, tmp_path: Path):
    """Session 23: guest code computing between tool calls is not reached by "stop at the next
    tool call"; after a short grace Ctrl-C stops it at once (it ran on to its deadline)."""
    child, _work = _exec_running(cli_env, tmp_path, BUSY, _busy_started)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    took = time.monotonic() - sent
    assert child.returncode == 130, err
    assert "the run was stopped: interrupted by the user" in err, err
    assert "Traceback" not in err, err
    assert took < 15, took  # the grace (2 s) and the session's close, not the guest's deadline


def test_a_second_ctrl_c_stops_at_once(cli_env, tmp_path: Path):
    child, _work = _exec_running(cli_env, tmp_path, BUSY, _busy_started)
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "the run was stopped: interrupted by the user" in err, err
