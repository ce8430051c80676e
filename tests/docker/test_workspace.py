"""Issue 15 F1: the workspace is checked before anything is mounted (vectors in
tests/vectors/docker/workspace.json); Docker mode refuses a bad one with exit 2, no container."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from appliance.host.bundle import bundle_root
from appliance.host.workspace import WorkspaceRefused, check_workspace
from tests.docker.docker_helpers import run_script

VECTORS = Path(__file__).parents[1] / "vectors" / "docker" / "workspace.json"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("workspace-layout")
    home, tmp = base / "home", base / "tmp"
    appliance = home / ".ironcurtain"
    for folder in (home / "projects/app", home / ".ssh", home / ".docker", appliance, tmp):
        folder.mkdir(parents=True)
    (appliance / "config.json").write_text('{"anthropicApiKey": "x"}')
    (tmp / "with-socket").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp / "with-socket" / "engine.sock"))
    (tmp / "with-fifo").mkdir()
    os.mkfifo(tmp / "with-fifo" / "pipe")
    (tmp / "link-home").symlink_to(home)
    (tmp / "holds-link").mkdir()
    (tmp / "holds-link" / "ssh").symlink_to(home / ".ssh")
    (tmp / "not-mine").mkdir()
    if os.getuid() == 0:
        os.chown(tmp / "not-mine", 12345, 12345)
    (tmp / "file.txt").write_text("x")
    # where the code the host runs lives (the agent must never get to edit it)
    program = {"program": bundle_root(), "venv": Path(sys.prefix), "python": Path(sys.base_prefix)}
    yield {"home": home, "appliance": appliance, "tmp": tmp, **program}
    listener.close()


def cases() -> list[dict]:
    return json.loads(VECTORS.read_text())["cases"]


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_workspace_vectors(layout: dict[str, Path], case: dict) -> None:
    if case["id"] == "not-mine" and os.getuid() != 0:
        pytest.skip("making a folder another user's needs root")
    path = Path(case["path"].format(tmpdir=tempfile.gettempdir(), **layout))
    check = lambda: check_workspace(path, layout["appliance"], home=layout["home"])  # noqa: E731 - one line, used twice
    if case["expect"] == "allowed":
        assert check() == path.resolve()
        return
    with pytest.raises(WorkspaceRefused) as refused:
        check()
    message = str(refused.value)
    assert case["why"] in message, message
    assert "dedicated folder" in message  # says what to use instead


def test_protected_paths_may_not_be_inside(layout: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    protected = [str(tmp_path / "policy" / "compiled-policy.json")]
    with pytest.raises(WorkspaceRefused, match="protected path"):
        check_workspace(tmp_path, layout["appliance"], home=layout["home"], protected=protected)


def test_a_bind_mount_of_home_inside_the_workspace_is_refused(layout, tmp_path: Path) -> None:
    inner = tmp_path / "looks-harmless"
    inner.mkdir()
    done = subprocess.run(["mount", "--bind", str(layout["home"]), str(inner)],
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.decode().strip()}")
    try:
        with pytest.raises(WorkspaceRefused, match="mount point inside"):
            check_workspace(tmp_path, layout["appliance"], home=layout["home"])
        with pytest.raises(WorkspaceRefused):  # and the mount point itself
            check_workspace(inner, layout["appliance"], home=layout["home"])
    finally:
        subprocess.run(["umount", str(inner)], check=True)


@pytest.mark.anyio
@pytest.mark.parametrize("sandbox", [Path.home(), Path("/var/run"), Path("/")], ids=str)
async def test_docker_mode_refuses_before_anything_is_mounted(sandbox: Path, capsys) -> None:
    """No engine is asked, no image built, no container made: the check comes first."""
    code, output = await run_script("no-such-image:never-used", "true", sandbox, "ws-refused")
    assert code == 2 and output == ""
    err = capsys.readouterr().err
    assert "ironcurtain: the workspace" in err and "dedicated folder" in err
    assert "removed" not in err and "image" not in err


@pytest.mark.parametrize("command", [["exec", "-"], ["mcp-proxy"]], ids=lambda c: c[0])
def test_every_mode_with_a_sandbox_uses_the_same_check(command: list[str], tmp_path: Path) -> None:
    """Code Mode's `exec` and the standalone `mcp-proxy` refuse `--sandbox /var/run` too."""
    import sys

    env = {**os.environ, "IRONCURTAIN_HOME": str(tmp_path / "home"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # fmt: skip
    argv = [sys.executable, "-m", "appliance.cli", *command, "--sandbox", "/var/run"]
    done = subprocess.run(argv, input="print(1)\n", capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "the workspace /var/run" in done.stderr and "dedicated folder" in done.stderr


def test_a_sessions_own_sandbox_is_allowed_but_still_checked(layout: dict[str, Path]) -> None:
    sessions = layout["appliance"] / "sessions"
    own = sessions / "s1" / "sandbox"
    own.mkdir(parents=True)
    assert check_workspace(own, layout["appliance"], home=layout["home"], own_sandboxes=sessions)
    (own / "keys").symlink_to(layout["home"] / ".ssh")  # left by an earlier agent
    with pytest.raises(WorkspaceRefused, match="a link to"):
        check_workspace(own, layout["appliance"], home=layout["home"], own_sandboxes=sessions)
    with pytest.raises(WorkspaceRefused, match="appliance's home"):  # only <id>/sandbox itself
        check_workspace(sessions / "s1", layout["appliance"], home=layout["home"],
                        own_sandboxes=sessions)  # fmt: skip
