"""Git metadata vectors (tests/vectors/docker/git_metadata.json) with the real engine: each
case's agent runs in a container built from the appliance's `ContainerSpec`, guarded as a
session guards it (`take_baseline`: read-only mounts; `GitWatch` during, a sweep after), then
the host runs real git where the user would. Each case runs guarded twice: `watched` (as a
session: every folder watched, new metadata quarantined as it appears, the agent's writes may
fail midway) and `sweeps` (the sweeps alone, the backstop: the agent finishes what it writes
between two of them). A live case is also run unguarded, to prove the marker would be made
without the guard."""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.docker.adapters import AgentLaunch
from appliance.docker.container import ContainerSpec, create_container, remove_container
from appliance.docker.git_guard import quarantine_suffix, report, take_baseline
from appliance.docker.git_watch import GitWatch
from appliance.docker.ownership import lent_workspace

pytestmark = pytest.mark.docker

VECTORS = json.loads((Path(__file__).parents[1] / "vectors/docker/git_metadata.json").read_text())
CASES = VECTORS["cases"]


def git(*args: str, cwd: Path, env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess:
    streams = kw or {"capture_output": True}
    return subprocess.run(["git", *args], cwd=cwd, env=env, text=True, check=False, timeout=30,
                          **streams)  # fmt: skip


def git_env(base: Path) -> dict[str, str]:
    """The host user's git, kept from walking above the case's folder or reading this
    machine's own configuration."""
    home = base / "home"
    home.mkdir(exist_ok=True)
    # PAGER: a repository's core.pager still wins over it; git's default, less, would wait.
    return {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "PAGER": "cat", "GIT_CEILING_DIRECTORIES": str(base), "GIT_AUTHOR_NAME": "u",
            "GIT_AUTHOR_EMAIL": "u@x", "GIT_COMMITTER_NAME": "u",
            "GIT_COMMITTER_EMAIL": "u@x"}  # fmt: skip


def build(setup: str, workspace: Path, env: dict[str, str]) -> None:
    workspace.mkdir()
    if setup == "none":
        return
    git("init", "-q", cwd=workspace, env=env)
    (workspace / "README").write_text("hello\n")
    git("add", "README", cwd=workspace, env=env)
    git("commit", "-qm", "first", cwd=workspace, env=env)
    if setup == "repo-husky":
        (workspace / ".husky" / "_").mkdir(parents=True)
        git("config", "core.hooksPath", ".husky/_", cwd=workspace, env=env)
    elif setup == "repo-hooks-absent":
        git("config", "core.hooksPath", ".githooks", cwd=workspace, env=env)
    elif setup == "repo-include":
        (workspace / "team.gitconfig").write_text("[user]\n\tname = team\n")
        git("config", "include.path", "../team.gitconfig", cwd=workspace, env=env)
    elif setup == "repo-with-nested":
        git("init", "-q", "sub", cwd=workspace, env=env)
    elif setup == "repo-with-submodule":
        modules = workspace / ".git" / "modules" / "sub"
        modules.parent.mkdir()
        git("init", "-q", f"--separate-git-dir={modules}", "sub", cwd=workspace, env=env)


def host_git(folder: Path, action: str, env: dict[str, str]) -> None:
    if action == "status":
        git("status", cwd=folder, env=env)
    elif action == "commit":
        git("commit", "--allow-empty", "-qm", "probe", cwd=folder, env=env)
    else:  # branch-on-a-terminal: git pages its output, with core.pager, only on a terminal
        primary, secondary = pty.openpty()
        try:
            git("branch", cwd=folder, env=env, stdin=secondary, stdout=secondary, stderr=secondary)
        finally:
            os.close(secondary)
            os.close(primary)


GUARDS = ("watched", "sweeps")  # as a session guards; the sweeps alone
_QUARANTINE_NAME = re.compile(r"\.ironcurtain-quarantined-[A-Za-z0-9_-]+")


def run_guarded(
    engine: Any, spec: ContainerSpec, baseline: Any, records: list, guard: str | None,
    timeout: float = 60, *, during: Callable[[], None] | None = None, interval: float = 0.5,
    max_watches: int | None = None,
) -> tuple[int, str]:  # fmt: skip
    """The container run as a session runs it: the watch set before the agent starts
    (`guard`: "watched", "sweeps" for the sweeps alone, every `interval` seconds, None for no
    guard), `during()` run on the host while it runs, the last sweep once it is gone. Returns
    the agent's exit status and output."""
    suffix = quarantine_suffix(spec.session_id)
    with lent_workspace(spec.workspace):
        watch = None
        if guard is not None:
            watch = GitWatch(baseline, suffix, records.append, interval=interval,
                             events=guard == "watched", max_watches=max_watches)  # fmt: skip
        container = create_container(engine, spec)
        try:
            if watch is not None:
                watch.start()
            container.start()
            if during is not None:
                during()
            status = container.wait(timeout=timeout)["StatusCode"]
            return status, container.logs(stdout=True, stderr=False).decode()
        finally:
            remove_container(container)
            if watch is not None:
                watch.stop()
                report(baseline.sweep(suffix, final=True), "at the end", records.append)


def origins(renamed: set[str]) -> set[str]:
    """Where each renamed piece was first made: a HEAD renamed in a `.git` folder the watch had
    renamed already is reported at `.git.ironcurtain-quarantined-...`."""
    return {_QUARANTINE_NAME.sub("", path) for path in renamed}


def check_guarded(case: dict, seen: dict, guard: str) -> None:
    assert not seen["marker"], f"{case['id']}: the host's git ran the agent's command: {seen}"
    for record in seen["records"]:
        assert all(not i["outcome"].startswith("error") for i in record["items"]), record
    if guard == "sweeps" or not case["quarantined"]:  # nothing the watch could cut short
        assert seen["status"] == 0, seen
        assert seen["output"] == case["output"], seen
    if guard == "sweeps":
        assert seen["renamed"] == set(case["quarantined"]), seen
    else:
        assert origins(seen["renamed"]) == set(case["quarantined"]), seen


def run_agent(
    image: str, engine: Any, workspace: Path, base: Path, script: str, label: str,
    guard: str | None, **kwargs: Any,
) -> tuple[int, str, list[dict]]:  # fmt: skip
    """The agent's shell `script` in a real container over `workspace`, guarded as a session
    guards it (:func:`run_guarded`, given `kwargs`), its session id starting with `label`:
    the agent's exit status, its output and the guard's audit records."""
    baseline = take_baseline(workspace) if guard else None
    session = f"{label}-{secrets.token_hex(3)}"
    records: list[dict] = []
    runtime = base / "runtime"
    runtime.mkdir()
    spec = ContainerSpec(image, AgentLaunch(["/bin/sh", "-c", script], {}), workspace, runtime,
                         session, read_only=baseline.read_only if baseline else ())  # fmt: skip
    status, output = run_guarded(engine, spec, baseline, records, guard, **kwargs)
    return status, output, records


def after_the_host(
    case: dict, workspace: Path, marker: Path, env: dict[str, str], run: tuple[int, str, list]
) -> dict:
    """The case's host git run where the user would, then what a check reads: whether the
    marker was made, the agent's status and output words, the quarantine records and the paths
    they renamed."""
    status, output, records = run
    for folder, action in case["host"]:
        if (workspace / folder).is_dir():
            host_git(workspace / folder, action, env)
    records = [record for record in records if record["type"] == "git-quarantine"]
    renamed = {item["path"] for record in records for item in record["items"]}
    return {"marker": marker.exists(), "output": output.split(), "renamed": renamed,
            "records": records, "status": status}  # fmt: skip


def agent_script(vectors: dict, case: dict, marker: Path) -> str:
    """The case's agent commands after the vectors' prelude (which names the marker)."""
    return vectors["prelude"].replace("{marker}", str(marker)) + case["agent"]


def run_case(image: str, engine: Any, case: dict, base: Path, guard: str | None) -> dict:
    env = git_env(base)
    workspace, marker = base / "ws", base / "marker"
    build(case["setup"], workspace, env)
    script = agent_script(VECTORS, case, marker)
    run = run_agent(image, engine, workspace, base, script, f"gitvec-{case['id']}", guard)
    if case["setup"] == "repo-with-submodule":
        assert (workspace / "sub" / ".git").is_file()
    return after_the_host(case, workspace, marker, env, run)


@pytest.mark.parametrize("guard", GUARDS)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_guarded(engine: Any, test_image: str, tmp_path: Path, case: dict, guard: str) -> None:
    check_guarded(case, run_case(test_image, engine, case, tmp_path, guard), guard)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_unguarded_the_case_is_an_attack(
    engine: Any, test_image: str, tmp_path: Path, case: dict
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, None)
    assert seen["status"] == 0, seen
    assert seen["marker"] == case["live"], seen
    assert seen["output"] == case.get("unguarded_output", ["WRITTEN"]), seen
