"""A rule's condition in one line of words, for people (``policy show``, the web console)."""

from __future__ import annotations

from policy.models import RuleCondition

__all__ = ["describe_condition"]


def describe_condition(cond: RuleCondition) -> str:
    parts = []
    if cond.server:
        parts.append("server " + "|".join(cond.server))
    if cond.tool:
        parts.append("tool " + "|".join(cond.tool))
    if cond.side_effects is not None:
        parts.append(f"sideEffects={str(cond.side_effects).lower()}")
    if cond.roles:
        parts.append("role " + "|".join(cond.roles))
    if cond.paths:
        parts.append(f"{'|'.join(cond.paths.roles)} within {cond.paths.within}")
    if cond.domains:
        parts.append(f"{'|'.join(cond.domains.roles)} host in {', '.join(cond.domains.allowed)}")
    for item in cond.lists or ():
        allowed = ", ".join(item.allowed)
        parts.append(f"{'|'.join(item.roles)} {item.match_type} in {allowed}")
    return "; ".join(parts) or "any call"
