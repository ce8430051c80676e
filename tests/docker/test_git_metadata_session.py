"""Docker mode, whole sessions: the agent's writes never become code the host's git runs.

The scripted agent (TEST image, busybox) writes git metadata into its workspace; afterwards the
host runs real `git status` there, as the user (or their IDE) would, and a marker file shows
whether anything the agent wrote was executed."""

from __future__ import annotations

import functools
import json
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.config.paths import app_paths
from tests.docker.docker_helpers import run_script
from tests.docker.test_lifecycle import start_session

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


PRELUDE = json.loads((Path(__file__).parents[1] / "vectors/docker/git_metadata.json").read_text())[
    "prelude"
]


def audit_records(session_id: str, kind: str) -> list[dict]:
    audit = app_paths().session_dir(session_id) / "audit.jsonl"
    return [r for r in map(json.loads, audit.read_text().splitlines()) if r["type"] == kind]


def quarantined_names(folder: Path, session: str) -> bool:
    """Every entry of `folder` is a `.git` the guard renamed (again: `-<random>`)."""
    name = re.compile(rf"\.git\.ironcurtain-quarantined-{session}(-[0-9a-f]{{8}})?")
    return bool(_listing(folder)) and all(name.fullmatch(p.name) for p in _listing(folder))


@pytest.mark.anyio
async def test_a_git_init_is_quarantined_when_the_agent_crashes(
    test_image: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No repository at the start; the agent makes one and exits with an error at once, with the
    guard's sweeps alone (before any sweep during the session): the sweep after the container is
    gone renames it, says so on the terminal and in the audit log."""
    from appliance.docker import run

    monkeypatch.setattr(run, "GitWatch", functools.partial(run.GitWatch, events=False))
    workspace = tmp_path / "ws"
    script = PRELUDE.replace("{marker}", str(tmp_path / "marker")) + "mkrepo .git; exit 7"
    session = f"git-crash-{secrets.token_hex(3)}"
    code, _ = await run_script(test_image, script, workspace, session)
    err = capsys.readouterr().err
    assert code == 7, err
    suffix = f".ironcurtain-quarantined-{session}"
    assert sorted(p.name for p in workspace.iterdir()) == [f".git{suffix}"]
    assert (workspace / f".git{suffix}" / f"HEAD{suffix}").is_file()
    assert "git metadata the agent made in its workspace was quarantined" in err
    assert f".git (a .git directory) -> .git{suffix}" in err
    [record] = audit_records(session, "git-quarantine")
    assert record["when"] == "at the end of the session" and record["complete"] is True
    assert {(i["path"], i["kind"]) for i in record["items"]} == {
        (".git", "dot-git"), (".git", "git-dir-shaped")}  # fmt: skip
    assert git("status", cwd=workspace).returncode != 0  # no repository any more
    assert not (tmp_path / "marker").exists()


@pytest.mark.anyio
async def test_a_git_init_is_quarantined_as_it_appears(
    test_image: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The same with the whole guard, as sessions run: the watch renames the `.git` during the
    session, the moment it is made (the agent's later writes into it may fail); the terminal and
    the audit log say so, and the workspace holds no repository afterwards."""
    workspace = tmp_path / "ws"
    script = PRELUDE.replace("{marker}", str(tmp_path / "marker")) + "mkrepo .git; exit 7"
    session = f"git-seen-{secrets.token_hex(3)}"
    code, _ = await run_script(test_image, script, workspace, session)
    err = capsys.readouterr().err
    assert code == 7, err
    assert quarantined_names(workspace, session), _listing(workspace)
    assert "quarantined (during the session, as it appeared)" in err, err
    [watching] = audit_records(session, "git-watch")
    assert watching["state"] == "watching" and watching["watches"] >= 1, watching
    records = audit_records(session, "git-quarantine")
    assert records[0]["when"] == "during the session, as it appeared", records
    assert (".git", "dot-git") in {(i["path"], i["kind"]) for i in records[0]["items"]}
    assert git("status", cwd=workspace).returncode != 0  # no repository
    assert not (tmp_path / "marker").exists()


def test_sigterm_still_quarantines(engine: Any, test_image: str, tmp_path: Path) -> None:
    """A session stopped by SIGTERM while the agent holds a `.git`: nothing of it is left as
    metadata (the sweep during the session or the last one renamed it)."""
    workspace = tmp_path / "ws"
    session = f"git-term-{secrets.token_hex(3)}"
    script = PRELUDE.replace("{marker}", str(tmp_path / "marker")) + "mkrepo .git; sleep 120"
    child = start_session(test_image, session, workspace, script)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".git") for p in _listing(workspace)):
            assert time.monotonic() < deadline and child.poll() is None, "no .git appeared"
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 3, err
    assert quarantined_names(workspace, session), _listing(workspace)
    assert "was quarantined" in err


def _listing(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["inside-dot-git", "bare-repository"])
async def test_a_workspace_inside_a_git_directory_is_refused(
    test_image: str, tmp_path: Path, capsys: pytest.CaptureFixture, where: str
) -> None:
    """The agent would write the hooks of the repository around it: refused, exit 2, before any
    container exists."""
    if where == "inside-dot-git":
        workspace = repository(tmp_path / "repo") / ".git" / "hooks"
    else:
        git("init", "-q", "--bare", str(tmp_path / "bare.git"), cwd=tmp_path)
        workspace = tmp_path / "bare.git"
    code, _ = await run_script(test_image, "echo RAN", workspace, f"git-in-{where}")
    err = capsys.readouterr().err
    assert code == 2, err
    assert "is inside the git directory" in err and "use the working tree" in err


def test_sigkill_leaves_the_last_sweep_to_the_next_start(
    engine: Any, test_image: str, tmp_path: Path
) -> None:
    """SIGKILL skips every `finally`: the baseline was saved in the session's folder before the
    agent started, and the next start (its `remove_stale` step) runs the last sweep. The
    session's guard sweeps only here, so that a `.git` is still there when it is killed."""
    from appliance.docker.container import remove_stale
    from appliance.docker.git_guard import PENDING_FILE, sweep_left_behind
    from appliance.host.processes import pid_alive

    workspace = tmp_path / "ws"
    session = f"git-kill-{secrets.token_hex(3)}"
    script = PRELUDE.replace("{marker}", str(tmp_path / "marker")) + "mkrepo .git; sleep 120"
    child = start_session(test_image, session, workspace, script, "sweeps")
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".git") for p in _listing(workspace)):
            assert time.monotonic() < deadline and child.poll() is None, "no .git appeared"
            time.sleep(0.05)
        child.kill()
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    pending = app_paths().session_dir(session) / PENDING_FILE
    assert pending.is_file()
    remove_stale(engine)
    sweep_left_behind(app_paths().sessions, pid_alive)
    assert not pending.exists()
    assert [p.name for p in workspace.iterdir()] == [f".git.ironcurtain-quarantined-{session}"]
