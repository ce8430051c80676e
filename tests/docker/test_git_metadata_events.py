"""Git metadata the agent makes, met by the host's git right away (tests/vectors/docker/
git_metadata_events.json): the agent in a real container makes a repository (in one go, through
a rename, from its /tmp, through a link, in the workspace folder itself, past the watch cap) and
hands over; the host runs real git there at once, while the container still runs, as an IDE's
`git status` would. Guarded as a session guards it, the marker is never made; with the sweeps
alone (the watch off) it is, as it is unguarded."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.docker.test_git_metadata_vectors import (
    agent_script,
    build,
    git_env,
    host_git,
    origins,
    run_agent,
)

pytestmark = pytest.mark.docker

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors/docker/git_metadata_events.json").read_text()
)
CASES = VECTORS["cases"]
AS_IT_APPEARED = "during the session, as it appeared"


def hand_over(workspace: Path, case: dict, env: dict[str, str]) -> None:
    """The host's git the moment the agent touches `go`; then `released` lets it end."""
    deadline = time.monotonic() + 30
    while not (workspace / "go").exists():
        assert time.monotonic() < deadline, "the agent never handed over"
        time.sleep(0.001)
    try:
        run_host(workspace, case, env)
    finally:
        (workspace / "released").touch()


def run_host(workspace: Path, case: dict, env: dict[str, str]) -> None:
    for folder, action in case["host"]:
        if (workspace / folder).is_dir():
            host_git(workspace / folder, action, env)


def as_the_user(env: dict[str, str]) -> None:
    """On a root host the workspace is lent to the agent's uid while it runs, and the host's
    git would refuse a repository there as another user's (safe.directory), the attack or not.
    On any other host the workspace is the user's own: the user's git config says so here."""
    if os.getuid() == 0:
        Path(env["HOME"], ".gitconfig").write_text("[safe]\n\tdirectory = *\n")


def run_case(image: str, engine: Any, case: dict, base: Path, guard: str | None) -> dict:
    env = git_env(base)
    as_the_user(env)
    workspace, marker = base / "ws", base / "marker"
    build(case["setup"], workspace, env)
    script = agent_script(VECTORS, case, marker)
    at_once = case["host_when"] == "at-once"
    during = (lambda: hand_over(workspace, case, env)) if at_once else None
    status, output, records = run_agent(
        image, engine, workspace, base, script, f"gitev-{case['id'][:24]}", guard,
        during=during, interval=3600, max_watches=case.get("max_watches"),
    )  # fmt: skip
    if not at_once:
        run_host(workspace, case, env)
    quarantines = [r for r in records if r["type"] == "git-quarantine"]
    return {"marker": marker.exists(), "status": status, "output": output,
            "renamed": {i["path"] for r in quarantines for i in r["items"]},
            "at_once": {i["path"] for r in quarantines if r["when"] == AS_IT_APPEARED
                        for i in r["items"]},
            "quarantines": quarantines,
            "watch": [r for r in records if r["type"] == "git-watch"]}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_watched(
    engine: Any, test_image: str, tmp_path: Path, case: dict, capsys: pytest.CaptureFixture
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, "watched")
    err = capsys.readouterr().err
    assert not seen["marker"], f"{case['id']}: the host's git ran the agent's command: {seen}"
    assert origins(seen["renamed"]) == set(case["quarantined"]), seen
    assert set(case["as_it_appeared"]) <= origins(seen["at_once"]), seen
    for record in seen["quarantines"]:
        assert all(not i["outcome"].startswith("error") for i in record["items"]), record
    states = [r["state"] for r in seen["watch"]]
    if case.get("degraded"):
        assert states == ["watching", "degraded"], seen["watch"]
        assert "more folders than the guard may watch (20" in seen["watch"][1]["reason"]
        assert "WARNING: git metadata the agent makes is no longer caught the moment" in err
    else:
        assert states == ["watching"], seen["watch"]
        assert "WARNING" not in err, err


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_sweeps_alone_lose_the_race(
    engine: Any, test_image: str, tmp_path: Path, case: dict
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, "sweeps")
    assert seen["marker"] == case["sweeps_live"], seen


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_unguarded_events_case_is_an_attack(
    engine: Any, test_image: str, tmp_path: Path, case: dict
) -> None:
    seen = run_case(test_image, engine, case, tmp_path, None)
    assert seen["marker"] == case["live"], seen
