"""Containers, sockets and runtime folders never outlive their session: removed on SIGTERM, and
found and removed at the next start after a SIGKILL. Sessions run in child processes."""

from __future__ import annotations

import os
import pty
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.docker.adapters import AgentLaunch
from appliance.docker.container import (
    LABEL_PID,
    LABEL_SESSION,
    ContainerSpec,
    create_container,
    remove_container,
    remove_stale,
)
from tests.docker.docker_helpers import real_key_env

pytestmark = pytest.mark.docker
ROOT = Path(__file__).parents[2]


def start_session(
    image: str, session_id: str, sandbox: Path, script: str, *flags: str
) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tests.docker.session_main", image, session_id, str(sandbox),
            script, *flags]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, env=real_key_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def start_in_terminal(image: str, session_id: str, sandbox: Path) -> subprocess.Popen:
    """A session in --pty mode, its standard streams on a real pseudo-terminal."""
    primary, secondary = pty.openpty()
    script = "echo PTY-AGENT; tty; read line; echo GOT-$line"
    argv = [sys.executable, "-m", "tests.docker.session_main", image, session_id, str(sandbox),
            script, "pty"]  # fmt: skip
    streams = {"stdin": secondary, "stdout": secondary, "stderr": secondary}
    child = subprocess.Popen(argv, cwd=ROOT, env=real_key_env(), start_new_session=True, **streams)
    os.close(secondary)
    child.terminal = primary  # type: ignore[attr-defined]
    return child


def read_terminal(fd: int, until: bytes, timeout: float = 120) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the terminal closed: the child is gone
                break
    return seen


def wait_for_container(engine: Any, session_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = engine.containers.list(filters={"label": f"{LABEL_SESSION}={session_id}"})
        if found and found[0].status == "running":
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no running container for session {session_id}")


def runtime_dirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"ironcurtain-run-{pid}-*"))


def session_containers(engine: Any, session_id: str) -> list[Any]:
    return engine.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={session_id}"})


# A process that dies by SIGKILL while it owns a running, labelled container and a runtime
# folder: what a crashed session leaves. (The full session costs seconds of imports; the SIGTERM
# test below runs a full one.)
_DOOMED = """
import sys, time
from pathlib import Path
from appliance.docker.adapters import AgentLaunch
from appliance.docker.container import ContainerSpec, RuntimeDir, create_container, docker_client
runtime = RuntimeDir()
spec = ContainerSpec(sys.argv[1], AgentLaunch(["sleep", "120"], {}), Path(sys.argv[2]),
                     runtime.path, sys.argv[3])
create_container(docker_client(), spec).start()
print(runtime.path, flush=True)
time.sleep(120)
"""


# Session ids are unique per run, as real ones are: a container left by an aborted test run must
# not collide with this run's names (the next test run's remove_stale clears it).
IDS = {role: f"lifecycle-{role}-{secrets.token_hex(3)}" for role in ("term", "kill", "pty")}


@pytest.fixture(scope="module")
def children(engine: Any, test_image: str, tmp_path_factory: pytest.TempPathFactory):
    """The children start together: each costs seconds of imports and set-up."""
    home = tmp_path_factory.mktemp("lifecycle-home")
    work = tmp_path_factory.mktemp("lifecycle-work")  # never inside the appliance's home
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IRONCURTAIN_HOME", str(home))
        started = {
            "term": start_session(test_image, IDS["term"], work / "sb", "sleep 120"),
            "kill": subprocess.Popen(
                [sys.executable, "-c", _DOOMED, test_image, str(home), IDS["kill"]],
                cwd=ROOT, stdout=subprocess.PIPE, text=True,
            ),
            "pty": start_in_terminal(test_image, IDS["pty"], work / "pty"),
        }  # fmt: skip
    yield started
    for child in started.values():
        if child.poll() is None:
            child.kill()
            child.communicate()
    for session_id in IDS.values():
        for container in session_containers(engine, session_id):
            remove_container(container)


def test_sigterm_removes_container_sockets_and_runtime_folder(engine: Any, children: dict) -> None:
    child = children["term"]
    container = wait_for_container(engine, IDS["term"])
    [runtime] = runtime_dirs(child.pid)
    assert (runtime / "mcp.sock").exists() and (runtime / "proxy" / "proxy.sock").exists()
    assert container.labels[LABEL_PID] == str(child.pid)
    child.send_signal(signal.SIGTERM)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    assert "received SIGTERM" in err
    assert session_containers(engine, IDS["term"]) == []
    assert not runtime.exists()


def test_a_killed_session_is_cleaned_at_the_next_start(engine: Any, children: dict) -> None:
    child = children["kill"]
    runtime = Path(child.stdout.readline().strip())
    assert runtime in runtime_dirs(child.pid)
    wait_for_container(engine, IDS["kill"])
    child.kill()  # SIGKILL: no finally block runs
    child.communicate(timeout=30)
    assert len(session_containers(engine, IDS["kill"])) == 1, "left behind, as expected"
    removed = remove_stale(engine)  # what the next session does first
    assert f"ironcurtain-{IDS['kill']}" in removed and str(runtime) in removed
    assert session_containers(engine, IDS["kill"]) == []
    assert not runtime.exists()


def test_the_next_start_leaves_a_live_sessions_container_alone(
    engine: Any, test_image: str, tmp_path: Path
) -> None:
    launch = AgentLaunch(["sleep", "60"], {})
    spec = ContainerSpec(test_image, launch, tmp_path, tmp_path, "lifecycle-live")
    container = create_container(engine, spec)  # labelled with this (live) test process's pid
    try:
        assert "ironcurtain-lifecycle-live" not in remove_stale(engine)
        assert len(session_containers(engine, "lifecycle-live")) == 1
    finally:
        remove_container(container)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to hand the workspace to another uid")
def test_any_host_uid_owns_what_the_agent_writes(
    engine: Any, test_image: str, tmp_path: Path
) -> None:
    """The original breaks when the host uid is not 1000: here the container runs as the host
    user's uid:gid, whatever they are (4321 here), and the workspace's files stay theirs."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    os.chown(workspace, 4321, 4321)
    launch = AgentLaunch(["/bin/sh", "-c", "id -u; id -g; echo hi > made.txt"], {})
    spec = ContainerSpec(test_image, launch, workspace, tmp_path, "lifecycle-uid", user="4321:4321")
    container = create_container(engine, spec)
    try:
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert container.logs().decode().split() == ["4321", "4321"]
    finally:
        remove_container(container)
    made = workspace / "made.txt"
    assert (made.stat().st_uid, made.stat().st_gid) == (4321, 4321)


def test_pty_mode_gives_the_agent_the_terminal(engine: Any, children: dict) -> None:
    child = children["pty"]
    seen = read_terminal(child.terminal, b"/dev/pts/")
    assert b"PTY-AGENT" in seen, seen.decode(errors="replace")
    os.write(child.terminal, b"typed-by-the-user\r")
    seen += read_terminal(child.terminal, b"exit=")
    text = seen.decode(errors="replace")
    assert "GOT-typed-by-the-user" in text, text
    assert child.wait(timeout=60) == 0 and "exit=0" in text
    assert session_containers(engine, IDS["pty"]) == []


def test_older_image_tags_are_pruned_but_the_current_one_stays(
    engine: Any, test_image: str
) -> None:
    from appliance.docker.image import prune_other_tags

    repository = test_image.partition(":")[0]
    old = f"{repository}:old-{secrets.token_hex(4)}"
    engine.images.get(test_image).tag(old)
    removed = prune_other_tags(engine, test_image)
    assert old in removed and test_image not in removed
    assert old not in {t for image in engine.images.list(name=repository) for t in image.tags}
    engine.images.get(test_image)  # still there
