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


def test_ctrl_c_during_exec_ends_it_without_a_traceback(cli_env, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    snippet = tmp_path / "loop.py"
    snippet.write_text(SNIPPET)
    child = subprocess.Popen(
        [*CLI, "exec", str(snippet), "--sandbox", str(work), "--text"], env=cli_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(work.iterdir()) and time.monotonic() < deadline:  # the snippet is running
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "RunFinishedError" not in err, err
    written = len(list(work.iterdir()))
    time.sleep(0.5)
    assert len(list(work.iterdir())) == written < 200
