"""Git metadata guard, second round (tests/vectors/docker/git_metadata_s17.json) with the real
engine: a workspace inside the user's repository whose config names a path in it, and a
workspace the agent grows past the walk's limit. Run like test_git_metadata_vectors.py: the
agent in a real container, guarded as a session guards it, then real git on the host; each
case also unguarded to show it is an attack."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.docker import git_metadata
from tests.docker.test_git_metadata_vectors import (
    GUARDS,
    after_the_host,
    agent_script,
    build,
    check_guarded,
    git,
    git_env,
    run_agent,
)

pytestmark = pytest.mark.docker

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors/docker/git_metadata_s17.json").read_text()
)
CASES = VECTORS["cases"]
KERNEL_CASE = VECTORS["kernel_cases"][0]


def workspace_for(setup: str, base: Path, env: dict[str, str]) -> Path:
    """The case's workspace: `base/ws`, or `base/proj/front` in the user's repository."""
    if not setup.startswith("inside-repo"):
        build(setup, base / "ws", env)
        return base / "ws"
    project = base / "proj"
    build("repo", project, env)
    if setup == "inside-repo-husky":
        (project / "front" / ".husky" / "_").mkdir(parents=True)
        (project / "front" / ".husky" / "_" / "h").write_text("#!/bin/sh\n")
        git("config", "core.hooksPath", "front/.husky/_", cwd=project, env=env)
    else:
        (project / "front").mkdir()
        git("config", "core.hooksPath", "front/.githooks", cwd=project, env=env)
    return project / "front"


def run_case(image: str, engine: Any, case: dict, base: Path, guard: str | None) -> dict:
    env = git_env(base)
    workspace, marker = workspace_for(case["setup"], base, env), base / "marker"
    script = agent_script(VECTORS, case, marker)
    label = f"gits17-{case['id'][:20]}"
    run = run_agent(image, engine, workspace, base, script, label, guard, timeout=120)
    return after_the_host(case, workspace, marker, env, run)


@pytest.fixture
def walk_limit(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    limit = request.node.callspec.params["case"].get("walk_limit")
    if limit is not None:  # the constant, and `scan`'s default taken from it when defined
        monkeypatch.setattr(git_metadata, "MAX_STEPS", limit)
        monkeypatch.setitem(git_metadata.scan.__kwdefaults__, "max_steps", limit)


@pytest.mark.parametrize("guard", GUARDS)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_guarded_s17(
    engine: Any, test_image: str, tmp_path: Path, case: dict, walk_limit: None, guard: str
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, guard)
    check_guarded(case, seen, guard)
    if "walk_limit" in case and guard == "sweeps":  # a sweep during the session stops short;
        assert seen["records"][-1]["complete"], seen["records"]  # the last one does not


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_unguarded_s17_is_an_attack(
    engine: Any, test_image: str, tmp_path: Path, case: dict, walk_limit: None
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, None)
    assert seen["status"] == 0, seen
    assert seen["marker"] == case["live"], seen
    assert seen["output"] == ["WRITTEN"], seen


SWEEP_AS_AGENT = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("gm", sys.argv[1])
gm = importlib.util.module_from_spec(spec)
sys.modules["gm"] = gm
spec.loader.exec_module(gm)
found = gm.scan(Path(sys.argv[2]), max_steps=None, repair=True).found
print([outcome for _, outcome in gm.quarantine(Path(sys.argv[2]), list(found), ".q")])
"""


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root, setpriv")
def test_a_folder_made_read_only_does_not_keep_a_repository(tmp_path: Path) -> None:
    """On a non-root host the agent is the user: it made sub/.git (a hook-bearing repository)
    and `chmod 555` both sub and sub/.git, so neither rename (.git, HEAD) was allowed and the
    repository stayed live after the last sweep. The sweep, as that same uid (real kernel
    permissions), gives the owner write permission back on the folder it holds open."""
    base = Path("/srv") / f"gits17-{secrets.token_hex(4)}"  # /tmp/pytest-of-root is 0700
    workspace = base / "ws"
    try:
        (workspace / "sub" / ".git" / "objects").mkdir(parents=True)
        (workspace / "sub" / ".git" / "refs").mkdir()
        (workspace / "sub" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        for path in [base, *base.rglob("*")]:
            os.chown(path, 65532, 65532)
        os.chmod(base, 0o755)
        for folder in KERNEL_CASE["chmod_555"]:
            os.chmod(workspace / folder, 0o555)
        python = "/usr/bin/python3"  # the venv's interpreter lives under root's 0700 home
        done = subprocess.run(
            ["setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", python, "-c",
             SWEEP_AS_AGENT, git_metadata.__file__, str(workspace)],
            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        assert "error" not in done.stdout, done.stdout
        assert sorted(os.listdir(workspace / "sub")) == KERNEL_CASE["sub_after"], done.stdout
        assert "HEAD.q" in os.listdir(workspace / "sub" / ".git.q")
    finally:
        for folder in [base, *base.rglob("*")]:
            if folder.is_dir() and not folder.is_symlink():
                os.chmod(folder, 0o755)
        shutil.rmtree(base, ignore_errors=True)
