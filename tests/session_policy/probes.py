"""The runner every red-team probe file of session policy shares (test_s18_probe.py,
test_s19_probe.py, test_s19b_probe.py): each scenario replayed alone against the policy its
file names; one named by a known limit must still fail (so the list stays true), any other pass."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from appliance.cli.policy_cmd import _protected_for
from policy.loader import load_policy
from policy.scenarios import load_scenarios, replay

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
