"""Stage 5: run every scenario and invariant through the real engine; on failure let an LLM
judge repair the rules, at most ``MAX_ROUNDS`` times.

The judge may replace one server's rules (checked like stage 2's) and may *propose* that an
LLM-written scenario expected the wrong decision. Proposals are returned for the user to see;
only ``accept_proposals=True`` (the user's explicit choice) applies them, and a proposal naming
an invariant is refused whatever the flag says: the invariants are loaded from their file for
every check, so nothing the judge says can reach them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.compiler.rules import check_rules
from policy.compiler.scenarios import InvariantFile
from policy.engine import evaluate
from policy.loader import Policy
from policy.models import EvalContext, Rule, ToolCall
from policy.paths import lexical
from policy.scenarios import Scenario, ScenarioContext, ScenarioRequest, run_sequence

__all__ = ["MAX_ROUNDS", "Failure", "Proposal", "find_failures", "repair_loop"]

MAX_ROUNDS = 3
Protected = Callable[[str], tuple[str, ...]]

SYSTEM = """You are the judge of a policy compiler. Some test scenarios fail against the rules.
Answer with one JSON object only: {"repairs": [{"server", "rules": [the server's complete new
rule list]}], "proposals": [{"description": scenario description, "expectedDecision", "why"}]}.
Repair rules where they disagree with the constitution. Propose an expectation change only when
the scenario itself contradicts the constitution. Rules may only allow or escalate, and may use
the same conditions as the rules you are given (session-aware ones included)."""


@dataclass(frozen=True)
class Failure:
    description: str
    server: str
    expected: str
    got: str
    rule: str
    invariant: bool


class Proposal(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", validate_by_name=True)

    description: str
    expected_decision: Literal["allow", "deny", "escalate"] = Field(alias="expectedDecision")
    why: str = ""


class _Repair(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    server: str
    rules: tuple[Rule, ...]


class _Verdict(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    repairs: tuple[_Repair, ...] = ()
    proposals: tuple[Proposal, ...] = ()


@dataclass
class Outcome:
    rules: dict[str, tuple[Rule, ...]]
    scenarios: tuple[Scenario, ...]
    failures: list[Failure]
    rounds: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    refused: list[Proposal] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What a verified repair leaves for the cache (failures are recomputed, never stored)."""
        return {
            "rules": {
                s: [r.model_dump(mode="json", by_alias=True) for r in rs]
                for s, rs in self.rules.items()
            },
            "scenarios": [s.model_dump(mode="json", by_alias=True) for s in self.scenarios],
            "rounds": self.rounds,
            "proposals": [p.model_dump(mode="json", by_alias=True) for p in self.proposals],
            "refused": [p.model_dump(mode="json", by_alias=True) for p in self.refused],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            rules={s: tuple(Rule.model_validate(r) for r in rs) for s, rs in data["rules"].items()},
            scenarios=tuple(Scenario.model_validate(s) for s in data["scenarios"]),
            failures=[],
            rounds=data["rounds"],
            proposals=[Proposal.model_validate(p) for p in data["proposals"]],
            refused=[Proposal.model_validate(p) for p in data["refused"]],
        )


def _context(ctx: ScenarioContext, protected: Protected) -> EvalContext:
    patterns = protected(ctx.ironcurtain_home)
    return EvalContext(
        sandbox=ctx.sandbox,
        protected_patterns=patterns,
        home=ctx.home,
        resolve_path=lexical,
        sandbox_history=ctx.sandbox_history,
    )


def _decide(request: ScenarioRequest, policy: Policy, context: EvalContext) -> tuple[str, str]:
    call = ToolCall(server=request.server_name, tool=request.tool_name, arguments=request.arguments)
    decision = evaluate(call, policy, context)
    return decision.decision, decision.rule


def _single(scenario: Scenario) -> bool:
    return scenario.task is None and not scenario.steps


def _sequence(
    scenario: Scenario, policy: Policy, context: EvalContext, today: date | None
) -> tuple[str, str]:
    """A scenario with a task or steps, decided as ``policy test`` decides one: its task's
    values granted (dates placed by the scenarios' ``today``), its steps judged and their
    results seen, then its request."""
    decision = run_sequence(scenario, policy, context, today).decision
    return decision.decision, decision.rule


def find_failures(
    policy: Policy,
    scenarios: Sequence[Scenario],
    context: ScenarioContext,
    invariants: InvariantFile,
    protected: Protected,
) -> list[Failure]:
    failures = []
    ctx = _context(context, protected)
    for s in scenarios:
        if _single(s):
            got, rule = _decide(s.request, policy, ctx)
        else:
            got, rule = _sequence(s, policy, ctx, context.today)
        # as policy test passes one (ScenarioResult.passed): "not-allow" is deny or escalate
        decided = (
            got != "allow" if s.expected_decision == "not-allow" else got == s.expected_decision
        )
        ok = decided and s.expected_rule in (None, rule)
        if not ok:
            expected = s.expected_decision + (f" ({s.expected_rule})" if s.expected_rule else "")
            failures.append(
                Failure(s.description, s.request.server_name, expected, got, rule, False)
            )
    inv_ctx = _context(invariants.context, protected)
    for inv in invariants.invariants:
        if policy.plan_for(inv.request.server_name, inv.request.tool_name) is None:
            continue  # a tool this policy does not know: every call to it is denied anyway
        got, rule = _decide(inv.request, policy, inv_ctx)
        if inv.never is not None:
            ok, expected = got != inv.never, f"anything but {inv.never}"
        else:
            ok = got == inv.expected_decision and inv.expected_rule in (None, rule)
            expected = f"{inv.expected_decision}" + (
                f" ({inv.expected_rule})" if inv.expected_rule else ""
            )
        if not ok:
            failures.append(
                Failure(inv.description, inv.request.server_name, expected, got, rule, True)
            )
    return failures


def repair_loop(
    outcome: Outcome,
    build: Callable[[dict[str, tuple[Rule, ...]]], Policy],
    check: Callable[[Policy, Sequence[Scenario]], list[Failure]],
    constitution: str,
    annotations: dict,
    llm: LLM,
    progress: Callable[[str], None],
    accept_proposals: bool = False,
) -> Outcome:
    """Repair until no scenario fails or ``MAX_ROUNDS`` judge rounds have been spent."""
    invariant_names = {f.description for f in outcome.failures if f.invariant}
    while outcome.failures and outcome.rounds < MAX_ROUNDS:
        outcome.rounds += 1
        progress(
            f"verify    round {outcome.rounds}: {len(outcome.failures)} failing, asking the judge"
        )
        verdict = _ask_judge(outcome, constitution, llm)
        for repair in verdict.repairs:
            if repair.server not in outcome.rules:
                raise CompileError("verify", f"the judge repaired unknown server {repair.server!r}")
            check_rules(repair.server, annotations[repair.server], repair.rules)
            outcome.rules[repair.server] = repair.rules
        outcome.scenarios = _apply(verdict.proposals, outcome, invariant_names, accept_proposals)
        outcome.failures = check(build(outcome.rules), outcome.scenarios)
        invariant_names |= {f.description for f in outcome.failures if f.invariant}
    return outcome


def _apply(
    proposals: Sequence[Proposal], outcome: Outcome, invariants: set[str], accept: bool
) -> tuple[Scenario, ...]:
    scenarios = list(outcome.scenarios)
    by_description = {s.description: i for i, s in enumerate(scenarios)}
    for proposal in proposals:
        index = by_description.get(proposal.description)
        if proposal.description in invariants or index is None or scenarios[index].source != "llm":
            outcome.refused.append(proposal)
            continue
        outcome.proposals.append(proposal)
        if accept:
            update = {"expected_decision": proposal.expected_decision, "expected_rule": None}
            scenarios[index] = scenarios[index].model_copy(update=update)
    return tuple(scenarios)


def _ask_judge(outcome: Outcome, constitution: str, llm: LLM) -> _Verdict:
    failing = [
        {
            "description": f.description,
            "server": f.server,
            "expected": f.expected,
            "got": f.got,
            "decidingRule": f.rule,
            "handWrittenInvariant": f.invariant,
        }
        for f in outcome.failures
    ]
    rules = {
        s: [r.model_dump(mode="json", by_alias=True) for r in rs] for s, rs in outcome.rules.items()
    }
    prompt = (
        f"Constitution:\n{constitution}\n\nRules by server:\n{json.dumps(rules)}\n\n"
        f"Failing scenarios:\n{json.dumps(failing, indent=1)}"
    )
    return ask_json(llm, SYSTEM, prompt, _Verdict, "verify")
