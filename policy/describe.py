"""A rule's condition in one line of words, for people (``policy show``, the web console)."""

from __future__ import annotations

from policy.models import RuleCondition

__all__ = ["describe_condition"]


def _article(word: str) -> str:
    return f"{'an' if word[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


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
    for number in cond.numbers or ():
        bounds = [f"{op} {getattr(number, op):g}" for op in ("gt", "gte", "lt", "lte")
                  if getattr(number, op) is not None]  # fmt: skip
        parts.append(f"{'|'.join(number.roles)} {' and '.join(bounds)}")
    for session in cond.session or ():
        bounds = [f"{op} {getattr(session, op):g}" for op in ("gt", "gte", "lt", "lte")
                  if getattr(session, op) is not None]  # fmt: skip
        what = (
            f"count {session.count}"
            if session.count
            else f"size of @{session.size}"
            if session.size
            else f"sum {session.sum}"
        )
        if session.reaches is not None:
            bounds.append("at the number of objects the request asks for")
        parts.append(f"session {what} {' and '.join(bounds)}")
    if cond.provenance:
        roles = "|".join(cond.provenance.roles)
        if cond.provenance.after_text is not None:
            parts.append(
                f"{roles} written after a text of {cond.provenance.after_text}+ words in "
                f"{_article(cond.provenance.from_)} result was read"
            )
        elif cond.provenance.words is None:
            parts.append(f"{roles} holds text from {cond.provenance.from_} results")
        else:
            parts.append(
                f"{roles} repeats {cond.provenance.words}+ words a {cond.provenance.from_} "
                "result wrote (not the user's)"
            )
    if cond.task:
        task = cond.task
        if task.mentions is not None:
            parts.append(f"the task mentions {' or '.join(task.mentions)}")
        elif task.mentions_none is not None:
            parts.append(f"the task mentions none of {', '.join(task.mentions_none)}")
        elif task.asks is not None:
            asked = " or ".join(f"'{a}'" for a in task.asks)
            parts.append(f"the user asks to {asked} (task lists: from those instructions)")
        else:
            asked = ", ".join(f"'{a}'" for a in task.asks_none or ())
            parts.append(f"the user asks for none of {asked}")
    return "; ".join(parts) or "any call"
