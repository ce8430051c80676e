"""Re-deciding a recorded session under another policy, without an LLM.

Each audit entry with ``server``, ``tool``, ``arguments`` and ``decision`` is evaluated again;
the ones whose decision would change are returned. The header's ``settings.sandbox`` becomes the
context's sandbox. Limits, said in the output: arguments the audit log redacted are judged as
redacted, and the chokepoint's enrichment (a git remote's URL, git's working directory) is not
redone, so git calls are judged on the agent's own arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import EvalContext, PolicyLoadError, ToolCall

__all__ = ["ReplayChange", "replay_audit"]

_REDACTED = "[REDACTED:"


@dataclass(frozen=True)
class ReplayChange:
    line: int
    server: str
    tool: str
    old: str  # "decision (rule)"
    new: str
    redacted: bool


def replay_audit(
    lines: Iterable[str],
    policy: Policy,
    context_for: Callable[[str | None], EvalContext],
    source: str = "audit log",
) -> tuple[list[ReplayChange], int]:
    """Returns the changed calls and how many calls were replayed; ``context_for(sandbox)``."""
    context: EvalContext | None = None
    changes: list[ReplayChange] = []
    replayed = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse(line, number, source)
        if record.get("type") == "header":
            settings = record.get("settings") or {}
            context = context_for(settings.get("sandbox") if isinstance(settings, dict) else None)
            continue
        if not {"server", "tool", "decision"} <= record.keys():
            continue  # not a tool call (session events)
        context = context or context_for(None)
        change = _replay_one(record, number, policy, context, source)
        replayed += 1
        if change:
            changes.append(change)
    return changes, replayed


def _parse(line: str, number: int, source: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(source, f"line {number}", line[:40], f"JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise PolicyLoadError(source, f"line {number}", record, "a JSON object")
    return record


def _replay_one(
    record: dict, number: int, policy: Policy, context: EvalContext, source: str
) -> ReplayChange | None:
    server, tool, arguments = record["server"], record["tool"], record.get("arguments") or {}
    if not isinstance(server, str) or not isinstance(tool, str) or not isinstance(arguments, dict):
        raise PolicyLoadError(
            source, f"line {number}", record, "string server/tool, object arguments"
        )
    decision = evaluate(ToolCall(server=server, tool=tool, arguments=arguments), policy, context)
    old_rule = record.get("rule")
    if decision.decision == record["decision"]:
        return None
    old = f"{record['decision']} ({old_rule})" if old_rule else str(record["decision"])
    redacted = _REDACTED in json.dumps(arguments)
    return ReplayChange(
        number, server, tool, old, f"{decision.decision} ({decision.rule})", redacted
    )
