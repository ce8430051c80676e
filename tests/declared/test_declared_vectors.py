"""The declared messaging policy's vectors (tests/vectors/declared/*.json), replayed two ways:
through the engine alone, and through the chokepoint in front of a real MCP server written with
the SDK, declared as a user would declare their own (a stdio command)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from appliance.chokepoint.server_pool import ServerSpec
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session
from policy.engine import evaluate
from policy.loader import load_policy
from policy.models import EvalContext, ToolCall

VECTORS = Path(__file__).parents[1] / "vectors" / "declared"
POLICY = VECTORS / "policy"
SERVER = Path(__file__).with_name("messaging_server.py")
DATA = json.loads((VECTORS / "messaging.json").read_text())
CASES = [pytest.param(case, id=case["description"][:60]) for case in DATA["cases"]]


def test_the_vector_file_covers_the_four_kinds_of_case() -> None:
    rules = {(c["expect"]["decision"], c["expect"]["rule"]) for c in DATA["cases"]}
    assert ("allow", "allow-contacts") in rules
    assert ("escalate", "escalate-payments-above-500") in rules
    assert ("deny", "default-deny") in rules  # unknown recipient, unlisted link in the body
    for case in DATA["cases"]:
        assert set(case) == {"description", "call", "expect"}, case


@pytest.mark.parametrize("case", CASES)
def test_engine(case: dict, tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    decision = evaluate(ToolCall(**case["call"]), policy, EvalContext(home=str(tmp_path)))
    got = {"decision": decision.decision, "rule": decision.rule}
    assert got == case["expect"], f"{case['description']}: {decision.reason}"


class _Refuse:
    """An approval channel that says no and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list = []

    async def ask(self, request):
        from appliance.chokepoint.escalation.models import Verdict

        self.asked.append(request)
        return Verdict.deny("human", "not this one")


@pytest.mark.anyio
async def test_the_chokepoint_in_front_of_a_real_declared_server(home, tmp_path: Path) -> None:
    spec = ServerSpec("messaging", argv=(sys.executable, str(SERVER)), call_timeout_s=20.0)
    options = SessionOptions(task="t", sandbox=tmp_path / "sb", policy_dir=POLICY)
    outcomes = []
    async with open_session(Config(), home, options, specs=[spec]) as session:
        refuse = _Refuse()
        session.chokepoint.escalation = refuse
        for case in DATA["cases"]:
            call = case["call"]
            outcomes.append(
                await session.chokepoint.call(call["server"], call["tool"], call["arguments"])
            )
        sent = await session.chokepoint.call("messaging", "list_sent", {})
    for case, outcome in zip(DATA["cases"], outcomes, strict=True):
        got = {"decision": outcome.decision.decision, "rule": outcome.decision.rule}
        if case["expect"]["rule"] == "structural-unknown-tool":
            # the chokepoint refuses a tool the server does not have before the engine
            assert got == case["expect"], case["description"]
            continue
        if got["rule"] == "invalid-arguments" and case["expect"]["decision"] != "allow":
            # the server's own input schema refused it first (a string where it wants a number):
            # stricter than the engine, never looser
            assert not outcome.ok, case["description"]
            continue
        assert got == case["expect"], f"{case['description']}: {outcome.text}"
        assert outcome.ok == (case["expect"]["decision"] == "allow"), case["description"]
    # what reached the server: exactly the allowed sends, nothing refused or escalated
    allowed = [
        c["call"]["arguments"]
        for c in DATA["cases"]
        if c["expect"]["decision"] == "allow" and c["call"]["tool"] != "list_sent"
    ]
    assert sent.ok
    assert sent.text.count("'recipient'") == len(allowed)
    assert "evil" not in sent.text and "mallory" not in sent.text
    assert refuse.asked  # the threshold did ask
    assert all(r.rule == "escalate-payments-above-500" for r in refuse.asked)
