"""The runner every red-team probe file of session policy shares (test_s18_probe.py,
test_s19_probe.py, test_s19b_probe.py): each scenario replayed alone against the policy its
file names; one named by a known limit must still fail (so the list stays true), any other pass."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from appliance.cli.policy_cmd import _protected_for
from policy.loader import Policy, load_policy
from policy.models import EvalContext, ToolCall
from policy.scenarios import load_scenarios, replay
from policy.session_run import SessionRun
from policy.task_plan import MAX_STEPS, check_plan

ROOT = Path(__file__).resolve().parents[2]


def probe_cases(files: Iterable[Path]) -> list:
    """One pytest parameter per scenario of ``files``: (path, index)."""
    return [
        pytest.param(path, index, id=f"{path.stem}:{scenario.description[:50]}")
        for path in files
        for index, scenario in enumerate(load_scenarios(path).scenarios)
    ]


def check_limits_name_one(files: Iterable[Path], limits: Iterable[str], at_least: int) -> None:
    """The files hold at least ``at_least`` scenarios, each description once, and every known
    limit is the start of exactly one of them (so the list names what it means to)."""
    descriptions = [s.description for path in files for s in load_scenarios(path).scenarios]
    assert len(descriptions) >= at_least
    assert len(set(descriptions)) == len(descriptions)
    for limit in limits:
        assert sum(d.startswith(limit) for d in descriptions) == 1, limit


def known(description: str, limits: Iterable[str]) -> bool:
    return any(description.startswith(limit) for limit in limits)


def check_probe(path: Path, index: int, limits: Iterable[str]) -> None:
    loaded = load_scenarios(path)
    one = loaded.model_copy(update={"scenarios": (loaded.scenarios[index],)})
    policy = load_policy(ROOT / json.loads(path.read_text(encoding="utf-8"))["policy"])
    (result,) = replay(one, policy, _protected_for)
    got = f"{result.decision.decision} ({result.decision.rule})"
    if known(result.scenario.description, limits):
        assert not result.passed, f"a known limit now holds, take it off: {got}"
    else:
        assert result.passed, f"{result.scenario.description}: {got}: {result.decision.reason}"


def through_the_session(
    policy: Policy, raw: Any, text: str, calls: Iterable[tuple[str, str, dict[str, Any]]]
) -> None:
    """A planner's answer ``raw`` (any JSON) checked against ``text``, its steps granted, and
    each of ``calls`` (server, tool, arguments) of a server the policy has judged: the fuzz
    tests' path, where nothing may raise."""
    checked = check_plan(raw, text, policy)
    assert len(checked.steps) <= MAX_STEPS
    assert checked.describe()
    run = SessionRun(policy, date(2026, 3, 9))
    run.grant_task(text, checked.steps)
    for server, tool, arguments in calls:
        if server in policy.annotations:
            call = ToolCall(server=server, tool=tool, arguments=arguments)
            assert run.judge(call, EvalContext(home="/home/u")).decision.decision
