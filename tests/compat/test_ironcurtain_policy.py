"""IronCurtain users bring their policy files unchanged and get IronCurtain's decisions.

The corpus (``tests/vectors/ironcurtain/``) is data: file shapes that must load, and calls whose
decisions were derived by hand from IronCurtain's documented semantics. Every difference from
IronCurtain must be listed as deliberate, with its reason, in the data itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.loader import load_policy
from policy.models import PolicyLoadError
from policy.scenarios import load_scenarios, replay
from tests.compat.corpus import CORPUS, decisions, load_shape, replay_decisions, shapes

SHAPES = shapes()


@pytest.mark.parametrize("case", SHAPES, ids=[c["description"][:60] for c in SHAPES])
def test_every_ironcurtain_shape_loads(case: dict) -> None:
    load_shape(case)


def test_the_corpus_names_every_fix_and_shape() -> None:
    fixes = {f for c in decisions()["cases"] for f in c.get("fix", "").split(",") if f}
    assert fixes == {"A1", "A2", "A3", "A4", "A5", "A6"}
    text = json.dumps(SHAPES)
    for marker in (
        '"inputSchema"',
        '"condition"',
        '"is": "falsy"',
        "share-permission",
        "not-allow",
    ):
        assert marker in text, marker


_, REPLAYED = replay_decisions()


@pytest.mark.parametrize("item", REPLAYED, ids=[r.case["description"][:60] for r in REPLAYED])
def test_decision(item) -> None:
    got = {"decision": item.decision.decision, "rule": item.decision.rule}
    assert got == item.case["expect"], item.decision.reason
    if not item.same_as_ironcurtain:
        assert item.case.get("deliberate"), "a difference from IronCurtain not listed as deliberate"
    else:
        assert "deliberate" not in item.case, "listed as a difference but decided the same"


def test_each_deliberate_history_difference_has_a_setting_giving_ironcurtains_decision() -> None:
    cases = decisions()["cases"]
    history = [c for c in cases if "sandboxHistory" in c.get("deliberate", "")]
    assert history
    with_setting = {
        json.dumps(c["call"], sort_keys=True): c
        for c in cases
        if c.get("context", {}).get("sandboxHistory") == "allow"
    }
    for case in history:
        twin = with_setting.get(json.dumps(case["call"], sort_keys=True))
        assert twin is not None and twin["expect"]["decision"] == case["ironcurtain"], case


def test_the_ironcurtain_scenario_file_replays(tmp_path: Path) -> None:
    """The corpus policy's own test-scenarios.json, IronCurtain's shape with ``not-allow``."""
    policy = load_policy(CORPUS / "policy")
    scenarios = load_scenarios(CORPUS / "policy" / "test-scenarios.json")
    assert any(s.expected_decision == "not-allow" for s in scenarios.scenarios)
    from appliance.config.paths import AppPaths

    def protected(home: str) -> tuple[str, ...]:
        return AppPaths(home=Path(home), cache=Path(home) / "cache").protected_patterns()

    results = replay(scenarios, policy, protected)
    failed = [r.scenario.description for r in results if not r.passed]
    assert failed == []


def test_not_allow_passes_on_deny_or_escalate_only() -> None:
    from policy.models import Decision
    from policy.scenarios import Scenario, ScenarioResult

    scenario = Scenario.model_validate(
        {
            "description": "d",
            "request": {"serverName": "s", "toolName": "t"},
            "expectedDecision": "not-allow",
        }
    )
    for effect, passed in (("deny", True), ("escalate", True), ("allow", False)):
        decision = Decision(decision=effect, rule="r", reason="x")
        assert ScenarioResult(scenario=scenario, decision=decision).passed is passed


def test_a_loader_error_lists_every_problem_in_the_file(tmp_path: Path) -> None:
    annotations = {
        "servers": {
            "srv": {
                "tools": [
                    {"toolName": "a", "serverName": "srv", "args": {"p": ["no-such-role"]}},
                    {
                        "toolName": "b",
                        "serverName": "srv",
                        "args": {
                            "p": {
                                "default": ["read-path"],
                                "when": [
                                    {
                                        "condition": {"arg": "p", "is": "maybe"},
                                        "roles": ["read-path"],
                                    }
                                ],
                            }
                        },
                    },
                    {
                        "toolName": "c",
                        "serverName": "srv",
                        "args": {"p": ["read-path"]},
                        "bogus": 1,
                    },
                ]
            }
        }
    }
    (tmp_path / "tool-annotations.json").write_text(json.dumps(annotations))
    (tmp_path / "compiled-policy.json").write_text('{"rules": []}')
    with pytest.raises(PolicyLoadError) as info:
        load_policy(tmp_path)
    message = str(info.value)
    assert message.startswith("3 problems:"), message
    for where, value in (
        ("tools[0].args.p[0]", "no-such-role"),
        ("tools[1]", "maybe"),
        ("tools[2].bogus", "1"),
    ):
        assert where in message and value in message, (where, message)
    assert len(info.value.problems) == 3


def test_duplicate_names_are_all_reported_too(tmp_path: Path) -> None:
    rule = {"if": {}, "then": "allow", "reason": "r"}
    rules = [
        {**rule, "name": "a"},
        {**rule, "name": "a"},
        {**rule, "name": "default-deny"},
    ]
    (tmp_path / "compiled-policy.json").write_text(json.dumps({"rules": rules}))
    (tmp_path / "tool-annotations.json").write_text('{"servers": {}}')
    with pytest.raises(PolicyLoadError) as info:
        load_policy(tmp_path)
    assert info.value.problems == ("$.rules[1].name", "$.rules[2].name")
    assert str(info.value).startswith("2 problems:")
