"""What changed between two policies: rules added, removed and changed (by name), tools whose
annotations changed, lists whose effective values changed, and scenarios decided differently.
Pure: both policies and the scenarios are passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import EvalContext, ToolCall
from policy.scenarios import Scenario

__all__ = ["DecisionChange", "PolicyDiff", "decision_changes", "diff_policies"]


@dataclass(frozen=True)
class DecisionChange:
    description: str
    old: str  # "decision (rule)"
    new: str


@dataclass
class PolicyDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)  # "server/tool"
    lists: list[str] = field(default_factory=list)
    decisions: list[DecisionChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        parts = (self.added, self.removed, self.changed, self.annotations, self.lists)
        return not any(parts) and not self.decisions

    def lines(self) -> list[str]:
        out = [f"+ rule {n}" for n in self.added] + [f"- rule {n}" for n in self.removed]
        out += [f"~ rule {n}" for n in self.changed]
        out += [f"~ annotation {n}" for n in self.annotations]
        out += [f"~ list @{n}" for n in self.lists]
        out += [f"! {d.description}: {d.old} -> {d.new}" for d in self.decisions]
        return out or ["no differences"]


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    result = PolicyDiff()
    old_rules = {r.name: r for r in old.rules}
    new_rules = {r.name: r for r in new.rules}
    result.added = [n for n in new_rules if n not in old_rules]
    result.removed = [n for n in old_rules if n not in new_rules]
    result.changed = [n for n in new_rules if n in old_rules and new_rules[n] != old_rules[n]]
    tools = {(s, t) for s, ts in old.annotations.items() for t in ts}
    tools |= {(s, t) for s, ts in new.annotations.items() for t in ts}
    for server, tool in sorted(tools):
        if old.annotations.get(server, {}).get(tool) != new.annotations.get(server, {}).get(tool):
            result.annotations.append(f"{server}/{tool}")
    names = sorted(set(old.lists) | set(new.lists))
    result.lists = [n for n in names if old.lists.get(n) != new.lists.get(n)]
    return result


def decision_changes(
    old: Policy,
    new: Policy,
    scenarios: Sequence[tuple[Scenario, EvalContext]],
) -> list[DecisionChange]:
    """Each scenario (with the context its paths assume) that the two policies decide apart."""
    out = []
    for scenario, context in scenarios:
        request = scenario.request
        call = ToolCall(
            server=request.server_name, tool=request.tool_name, arguments=request.arguments
        )
        a, b = evaluate(call, old, context), evaluate(call, new, context)
        if (a.decision, a.rule) != (b.decision, b.rule):
            out.append(
                DecisionChange(
                    scenario.description, f"{a.decision} ({a.rule})", f"{b.decision} ({b.rule})"
                )
            )
    return out
