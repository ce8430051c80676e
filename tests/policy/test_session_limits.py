"""Session limits (tests/vectors/policy/session/limits.json): an escalate rule on the session's
counters or sums asks only about what the rules after it would not refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import EvalContext, Rule, ToolAnnotationsFile, ToolCall
from policy.session_state import SessionState

DATA = json.loads(
    (Path(__file__).parents[1] / "vectors" / "policy" / "session" / "limits.json").read_text()
)
POLICY = Policy.build(
    tuple(Rule.model_validate(r) for r in DATA["rules"]),
    ToolAnnotationsFile.model_validate(DATA["annotations"]),
)


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["description"][:60])
def test_session_limit(case: dict, tmp_path: Path) -> None:
    call = case["call"]
    session = SessionState(counters=case.get("counters", {}), sums=case.get("sums", {}))
    decision = evaluate(
        ToolCall(server=call["serverName"], tool=call["toolName"], arguments=call["arguments"]),
        POLICY,
        EvalContext(sandbox=str(tmp_path / "sandbox"), home=str(tmp_path), session=session),
    )
    assert {"decision": decision.decision, "rule": decision.rule} == case["expect"], decision.reason
