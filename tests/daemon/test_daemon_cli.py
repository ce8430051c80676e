"""``ironcurtain daemon`` as a process: prints the URL once, answers it, refuses a second daemon,
stops cleanly on SIGTERM; ``--install-service`` writes the user unit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

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
        url = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
        assert url, line
        token_file = tmp_path / "home" / "daemon" / "console-token"
        assert token_file.read_text().strip() == url.group(2)
        with httpx.Client(base_url=url.group(1)) as client:
            assert client.get("/").status_code == 401
            assert client.get(f"/?token={url.group(2)}", follow_redirects=True).status_code == 200
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
