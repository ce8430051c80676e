"""Roles given by an argument's ``when`` clause, judged as the call's own
(tests/vectors/policy/conditional/roles.json): a whole-call rule naming such a role holds for a
call whose arguments carry it, and for no other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import EvalContext, Rule, ToolAnnotationsFile, ToolCall

DATA = json.loads(
    (Path(__file__).parents[1] / "vectors" / "policy" / "conditional" / "roles.json").read_text()
)
POLICY = Policy.build(
    tuple(Rule.model_validate(r) for r in DATA["rules"]),
    ToolAnnotationsFile.model_validate(DATA["annotations"]),
)


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["description"][:60])
def test_conditional_role(case: dict, tmp_path: Path) -> None:
    call = case["call"]
    decision = evaluate(
        ToolCall(server=call["serverName"], tool=call["toolName"], arguments=call["arguments"]),
        POLICY,
        EvalContext(sandbox=str(tmp_path / "sandbox"), home=str(tmp_path)),
    )
    assert {"decision": decision.decision, "rule": decision.rule} == case["expect"], decision.reason
