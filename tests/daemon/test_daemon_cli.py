"""``ironcurtain daemon`` as a process: prints the URL once, answers it, refuses a second daemon,
stops cleanly on SIGTERM; ``--install-service`` writes the user unit."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "IRONCURTAIN_HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(ROOT),
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", *args]


def test_daemon_process_serves_refuses_a_second_and_stops(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = subprocess.Popen(
        _cli("daemon", "--port", "0"), env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=", line)
        assert url, line
        token_file = tmp_path / "home" / "daemon" / "console-token"
        token = token_file.read_text().strip()
        # stdout is a pipe here, as under systemd, where it goes to the journal (kept on disk,
        # readable by the adm and systemd-journal groups): the token is not printed there
        assert token not in line and str(token_file) in line, line
        with httpx.Client(base_url=url.group(1)) as client:
            assert client.get("/").status_code == 401
            assert client.get(f"/?token={token}", follow_redirects=True).status_code == 200
        second = subprocess.run(
            _cli("daemon", "--port", "0"), env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1 and "already running" in second.stderr
        assert token_file.exists(), "the failed second daemon left the first one's token alone"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not token_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_non_loopback_host_and_install_service(tmp_path: Path) -> None:
    env = _env(tmp_path)
    bad = subprocess.run(
        _cli("daemon", "--host", "0.0.0.0"), env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "not a loopback address" in bad.stderr
    done = subprocess.run(
        _cli("daemon", "--install-service", "--port", "9123"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "xdg" / "systemd" / "user" / "ironcurtain-daemon.service").read_text()
    assert "daemon --port 9123 --host 127.0.0.1" in unit
    assert f"IRONCURTAIN_HOME={tmp_path / 'home'}" in unit
    assert "KEY" not in unit.upper().replace("WANTEDBY", "")


OUTPUTS = json.loads(
    (ROOT / "tests" / "vectors" / "daemon_s17" / "daemon_output.json").read_text()
)["cases"]


def _first_line(kind: str, tmp_path: Path) -> tuple[str, str]:
    """Run the daemon with its output to a pipe, a file or a terminal: (its first line, the
    token in its token file, read while it runs)."""
    log = tmp_path / "daemon.log"
    main = secondary = -1
    if kind == "tty":
        main, secondary = pty.openpty()
        out: object = secondary
    else:
        out = log.open("wb") if kind == "file" else subprocess.PIPE
    command = _cli("daemon", "--port", "0")
    proc = subprocess.Popen(command, env=_env(tmp_path), stdout=out, stderr=subprocess.DEVNULL)
    try:
        if kind == "tty":
            os.close(secondary)
            seen = b""
            while b"\n" not in seen:
                seen += os.read(main, 4096)
        elif kind == "file":
            while b"\n" not in log.read_bytes():
                time.sleep(0.05)
            seen = log.read_bytes()
        else:
            assert proc.stdout is not None
            seen = proc.stdout.readline()
        return seen.decode(), (tmp_path / "home" / "daemon" / "console-token").read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        if kind == "tty":
            os.close(main)


@pytest.mark.parametrize("case", OUTPUTS, ids=[c["id"] for c in OUTPUTS])
def test_the_token_is_printed_only_on_a_terminal(tmp_path: Path, case: dict) -> None:
    line, token = _first_line(case["stdout"], tmp_path)
    assert "console at http://127.0.0.1:" in line, line
    assert (token in line) == case["token_printed"], line
    if not case["token_printed"]:
        assert str(tmp_path / "home" / "daemon" / "console-token") in line, line
