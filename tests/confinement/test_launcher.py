"""``ironcurtain serve NAME`` confines by default: the running server's kernel state shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.confinement.conftest import REPO_ROOT, World


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _serve(world: World, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "serve", *argv],
        cwd=world.sandbox,
        env=world.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_started(proc: subprocess.Popen[str]) -> dict[str, str]:
    # Started means: the server module is loaded (confinement came first).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        maps = Path(f"/proc/{proc.pid}/maps")
        status = _status(proc.pid)
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stderr.read()}")
        if status.get("Seccomp") == "2" and maps.exists():
            return status
        time.sleep(0.05)
    pytest.fail("the server did not get confined")


@pytest.mark.parametrize("server", ["filesystem", "git", "fetch"])
def test_serve_confines_by_default(server: str, world: World) -> None:
    args = {"filesystem": [str(world.sandbox)], "git": ["--base-dir", str(world.sandbox)]}
    proc = _serve(world, server, *args.get(server, []))
    try:
        status = _wait_started(proc)
        assert status["NoNewPrivs"] == "1"
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
        netns = os.readlink(f"/proc/{proc.pid}/ns/net")
        assert (netns != os.readlink("/proc/self/ns/net")) == (server == "filesystem")
    finally:
        proc.kill()
        proc.wait()


def test_no_confine_warns_and_leaves_the_process_as_it_was(world: World) -> None:
    proc = _serve(world, "--no-confine", "filesystem", str(world.sandbox))
    try:
        time.sleep(1.0)
        assert _status(proc.pid)["Seccomp"] == "0"
    finally:
        proc.kill()
        _out, err = proc.communicate()
    assert "WARNING --no-confine" in err and "debugging only" in err.lower()


def test_a_refused_grant_stops_the_start_with_a_clear_error(world: World) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "serve", "filesystem", str(world.home)],
        cwd=REPO_ROOT,
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3
    assert "not started" in proc.stderr and f"{world.home}/.ssh" in proc.stderr


def test_an_unknown_mode_is_refused(world: World) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "serve", "fetch"],
        cwd=REPO_ROOT,
        env=world.env(IRONCURTAIN_CONFINEMENT="sometimes"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0 and "use enforce or best-effort" in proc.stderr
