"""Issue 15 F6-F10 with the real engine, the TEST image and whole sessions: a dead proxy or gate
ends the session (exit 3, saying so) within a second; the container dies with a SIGKILLed host;
a start that fails on the key still removes stale containers; as root the agent is unprivileged;
CPU is limited and a disk filling up stops the session; --pty without a terminal is refused."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.docker import run as run_module
from appliance.docker.adapters import AgentLaunch
from appliance.docker.container import (
    LABEL_PID,
    LABEL_SESSION,
    ContainerSpec,
    remove_container,
)
from appliance.docker.ownership import AGENT_UID
from tests.docker.docker_helpers import run_script
from tests.docker.test_lifecycle import start_session, wait_for_container

pytestmark = pytest.mark.docker


def sid(role: str) -> str:
    return f"superv-{role}-{secrets.token_hex(3)}"


def containers(engine: Any, session_id: str) -> list[Any]:
    return engine.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={session_id}"})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IRONCURTAIN_HOME", str(tmp_path / "ic"))
    return tmp_path


def in_background(engine: Any, session_id: str, action) -> dict[str, float]:
    """Once the session's container runs, do `action()`; remember when."""
    when: dict[str, float] = {}

    def go() -> None:
        wait_for_container(engine, session_id)
        action()
        when["at"] = time.monotonic()

    threading.Thread(target=go, daemon=True).start()
    return when


@pytest.mark.anyio
async def test_a_dead_proxy_ends_the_session_at_once(engine, test_image, home, monkeypatch, capsys):
    made: list[Any] = []
    original = run_module._proxy

    def keep(*args: Any):
        proxy, meter = original(*args)
        made.append(proxy)
        return proxy, meter

    monkeypatch.setattr(run_module, "_proxy", keep)
    session = sid("proxy")
    when = in_background(engine, session, lambda: made[0]._thread.stop())
    code, _ = await run_script(test_image, "sleep 60", home / "sb", session)
    ended = time.monotonic()
    err = capsys.readouterr().err
    assert code == 3, err
    assert "the credential proxy died" in err
    assert ended - when["at"] < 5  # noticed in <= 0.2 s; the rest is killing the container
    assert containers(engine, session) == []


@pytest.mark.anyio
async def test_a_dead_gate_ends_the_session(engine, test_image, home, capsys) -> None:
    session = sid("gate")

    def kill_gate() -> None:
        [container] = containers(engine, session)
        runtime = next(m["Source"] for m in container.attrs["Mounts"]
                       if m["Destination"] == "/run/ironcurtain")  # fmt: skip
        Path(runtime, "mcp.sock").unlink()

    in_background(engine, session, kill_gate)
    code, _ = await run_script(test_image, "sleep 60", home / "sb", session)
    assert code == 3
    assert "the gate socket died" in capsys.readouterr().err


def test_the_container_dies_with_a_sigkilled_host(engine, test_image, home) -> None:
    session = sid("orphan")
    child = start_session(test_image, session, home / "sb", "sleep 120")
    try:
        container = wait_for_container(engine, session)
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            container.reload()
            if container.status != "running":
                break
            time.sleep(0.1)
        assert container.status == "exited", "the agent ran on without its supervisor"
    finally:
        for left in containers(engine, session):
            remove_container(left)


@pytest.mark.anyio
async def test_a_start_without_a_key_still_removes_stale_containers(
    engine, test_image, home, monkeypatch, capsys
) -> None:
    launch = AgentLaunch(["sleep", "60"], {})
    spec = ContainerSpec(test_image, launch, home, home, sid("stale"))
    kwargs = spec.run_kwargs() | {"labels": {LABEL_SESSION: spec.session_id, LABEL_PID: "999999"}}
    stale = engine.containers.create(**kwargs)
    try:
        stale.start()
        monkeypatch.setattr("tests.docker.docker_helpers.REAL_KEY", None)
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        code, _ = await run_script(test_image, "true", home / "sb", sid("nokey"))
        err = capsys.readouterr().err
        assert code == 2 and "no anthropic API key" in err
        assert f"removed ironcurtain-{spec.session_id}" in err
        assert containers(engine, spec.session_id) == []
    finally:
        remove_container(stale)


@pytest.mark.anyio
@pytest.mark.skipif(os.getuid() != 0, reason="the fixed agent uid applies to a root host")
async def test_as_root_the_agent_is_unprivileged_and_cpu_limited(engine, test_image, home) -> None:
    workspace = home / "ws"
    workspace.mkdir()
    (workspace / "before.txt").write_text("the user's")
    script = (
        "echo UID $(id -u); echo CPU $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us); "
        "echo x > made.txt; echo y >> before.txt; echo ok"
    )
    code, output = await run_script(test_image, script, workspace, sid("uid"))
    assert code == 0, output
    assert f"UID {AGENT_UID}\n" in output and "CPU 200000 100000\n" in output, output
    assert "ok" in output.split()
    for name in ("made.txt", "before.txt"):  # given back to root when the session ends
        assert (workspace / name).stat().st_uid == 0
    assert (workspace / "before.txt").read_text() == "the user'sy\n"  # the agent could write it


@pytest.mark.anyio
async def test_a_disk_filling_up_stops_the_session(
    engine, test_image, home, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(run_module, "DISK_MAX_GROWTH", 64 * 2**20)
    workspace = home / "ws"
    workspace.mkdir()
    script = "dd if=/dev/zero of=big bs=1048576 count=2000 2>/dev/null; sleep 30"
    code, _ = await run_script(test_image, script, workspace, sid("disk"))
    err = capsys.readouterr().err
    assert code == 3 and "disk limit" in err, err
    assert (workspace / "big").stat().st_size < 2000 * 2**20


@pytest.mark.anyio
async def test_pty_without_a_terminal_is_one_line_and_exit_2(capsys) -> None:
    from appliance.docker.run import run_docker_session
    from appliance.session.core import SessionOptions

    code = await run_docker_session(None, None, SessionOptions(), agent="claude-code",
                                    task=None, pty=True)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--pty needs a terminal" in err
