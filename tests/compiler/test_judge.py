"""The verify-and-repair loop: the judge repairs rules, may only propose scenario changes, and
can never touch the hand-written invariants."""

from __future__ import annotations

import hashlib

import pytest

from policy.compiler.errors import CompileError
from policy.compiler.pipeline import compile_policy
from policy.compiler.scenarios import INVARIANTS_FILE
from policy.scenarios import load_scenarios
from tests.compiler.support import client, inputs, recorded, request_key, snapshot

WRITE_ESCALATE = "escalate-documents-write"
SYSTEM_WRITE = "invariant: a system file outside the sandbox is never written without asking"


def _compile(llm, tmp_path, overrides, **kwargs):
    llm.overrides.clear()
    llm.overrides.update(overrides)
    llm.requests.clear()
    return compile_policy(inputs(tmp_path), client(llm.openai_base), lambda _: None, **kwargs)


def _judged(llm) -> int:
    return sum(request_key(body["messages"]) == "judge" for body in llm.requests)


def _rules_without(name):
    rules = recorded("rules-filesystem.json")
    rules["rules"] = [r for r in rules["rules"] if r["name"] != name]
    return rules


def test_the_judge_repairs_rules_and_its_proposals_are_shown_not_applied(script, tmp_path):
    verdict = {
        "repairs": [{"server": "filesystem", "rules": recorded("rules-filesystem.json")["rules"]}],
        "proposals": [
            {
                "description": "invariant: the config file is never read",
                "expectedDecision": "allow",
            },
            {"description": "fetch another site", "expectedDecision": "allow", "why": "harmless"},
        ],
    }
    report = _compile(
        script, tmp_path, {"rules-filesystem": _rules_without(WRITE_ESCALATE), "judge": verdict}
    )
    assert report.rounds == 1 and _judged(script) == 1
    assert [p.description for p in report.refused] == ["invariant: the config file is never read"]
    assert [p.description for p in report.proposals] == ["fetch another site"]
    written = load_scenarios(tmp_path / "generated" / "test-scenarios.json")
    by_name = {s.description: s for s in written.scenarios}
    assert by_name["fetch another site"].expected_decision == "escalate"  # not applied
    assert by_name["invariant: the config file is never read"].source == "invariant"
    assert WRITE_ESCALATE in {r["name"] for r in recorded("rules-filesystem.json")["rules"]}


def test_the_judge_cannot_talk_its_way_past_an_invariant(script, tmp_path):
    _compile(script, tmp_path, {})
    before = snapshot(tmp_path / "generated")
    invariants_digest = hashlib.sha256(INVARIANTS_FILE.read_bytes()).hexdigest()
    loose = recorded("rules-filesystem.json")
    loose["rules"].append(
        {
            "name": "allow-write-anywhere",
            "if": {"server": ["filesystem"], "paths": {"roles": ["write-path"], "within": "/"}},
            "then": "allow",
            "reason": "the judge likes writing",
        }
    )
    verdict = {
        "repairs": [{"server": "filesystem", "rules": loose["rules"]}],
        "proposals": [
            {
                "description": SYSTEM_WRITE,
                "expectedDecision": "allow",
            },
            {"description": "write outside", "expectedDecision": "allow"},
        ],
    }
    import shutil

    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(CompileError, match="invariant 'invariant: a system file") as caught:
        _compile(
            script, tmp_path, {"rules-filesystem": loose, "judge": verdict}, accept_proposals=True
        )
    assert "after 3 repair round(s)" in str(caught.value)
    assert _judged(script) == 3
    assert snapshot(tmp_path / "generated") == before
    assert hashlib.sha256(INVARIANTS_FILE.read_bytes()).hexdigest() == invariants_digest


@pytest.mark.parametrize("accept", [False, True])
def test_a_wrong_llm_scenario_needs_the_users_consent(script, tmp_path, accept):
    wrong = recorded("scenarios-fetch.json")
    wrong["scenarios"][1]["expectedDecision"] = "allow"  # "fetch another site": the LLM erred
    verdict = {"proposals": [{"description": "fetch another site", "expectedDecision": "escalate"}]}
    overrides = {"scenarios-fetch": wrong, "judge": verdict}
    if not accept:
        with pytest.raises(
            CompileError, match="'fetch another site': expected allow, got escalate"
        ):
            _compile(script, tmp_path, overrides)
        assert not (tmp_path / "generated").exists()
        return
    report = _compile(script, tmp_path, overrides, accept_proposals=True)
    assert report.rounds == 1 and [p.description for p in report.proposals] == [
        "fetch another site"
    ]
    written = load_scenarios(tmp_path / "generated" / "test-scenarios.json")
    assert {s.description: s.expected_decision for s in written.scenarios}[
        "fetch another site"
    ] == "escalate"


def test_a_verified_repair_is_cached_so_the_next_run_asks_nothing(script, tmp_path):
    verdict = {
        "repairs": [{"server": "filesystem", "rules": recorded("rules-filesystem.json")["rules"]}]
    }
    overrides = {"rules-filesystem": _rules_without(WRITE_ESCALATE), "judge": verdict}
    assert _compile(script, tmp_path, overrides).rounds == 1
    report = _compile(script, tmp_path, overrides)
    assert script.requests == [] and report.rounds == 1
