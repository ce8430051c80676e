"""Docker mode, whole sessions: the agent's writes never become code the host's git runs.

The scripted agent (TEST image, busybox) writes git metadata into its workspace; afterwards the
host runs real `git status` there, as the user (or their IDE) would, and a marker file shows
whether anything the agent wrote was executed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docker.docker_helpers import run_script

pytestmark = pytest.mark.docker


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def repository(path: Path) -> Path:
    path.mkdir(parents=True)
    git("init", "-q", cwd=path)
    (path / "README").write_text("hello\n")
    git("add", "README", cwd=path)
    git("-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "first", cwd=path)
    return path


@pytest.mark.anyio
async def test_core_fsmonitor_written_by_the_agent_never_runs_on_the_host(
    test_image: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    workspace = repository(tmp_path / "ws")
    marker = tmp_path / "fsmonitor-ran"
    script = (
        f"printf '[core]\\n\\tfsmonitor = touch {marker}\\n' >> .git/config"
        " && echo WROTE-CONFIG || echo CONFIG-REFUSED"
    )
    code, output = await run_script(test_image, script, workspace, "git-fsmonitor")
    assert code == 0, output
    status = git("status", "--porcelain", cwd=workspace)
    assert not marker.exists(), f"host git ran the agent's fsmonitor:\n{output}"
    assert "CONFIG-REFUSED" in output, output
    assert status.returncode == 0 and status.stdout == "", status
    assert "fsmonitor" not in (workspace / ".git" / "config").read_text()
