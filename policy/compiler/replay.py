"""Re-deciding a recorded session under another policy, without an LLM.

Each call record (``type: "call"``, with ``server``, ``tool``, ``arguments`` and ``decision``) is
evaluated again; an ``intent`` (written before the server was called, followed by that call's
record when it answered) or an ``outcome-unknown`` record is not a decision, and is skipped.
The calls whose decision would change are returned. The header's ``settings.sandbox`` becomes the
context's sandbox. Limits, said in the output: arguments the audit log redacted are judged as
redacted, and the chokepoint's enrichment (a git remote's URL, git's working directory) is not
redone, so git calls are judged on the agent's own arguments. A record's ``session`` (the state
the engine saw: session lists, counters, sums, provenance hits) is given back to the engine, so
session-aware rules decide as they did; hits from secret results are kept in the log only as a
count, so for those the label counts as saturated (every value tainted) on replay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from policy.loader import Policy
from policy.models import EvalContext, PolicyLoadError, ToolCall
from policy.session_policy import SessionPolicies, evaluate_in_session
from policy.session_state import RUNS_SATURATED, SECRET_MARK, SessionState

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
    policies = SessionPolicies(policy)
    replayed = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse(line, number, source)
        if record.get("type") == "header":
            settings = record.get("settings") or {}
            context = context_for(settings.get("sandbox") if isinstance(settings, dict) else None)
            continue
        if record.get("type", "call") != "call":
            continue  # session events, intents: not a decision to replay
        if not {"server", "tool", "decision"} <= record.keys():
            continue  # not a tool call
        context = context or context_for(None)
        change = _replay_one(record, number, policies, context, source)
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


def _session_of(record: dict, number: int, source: str) -> SessionState | None:
    data = record.get("session")
    if data is None:
        return None
    try:
        state = SessionState.model_validate(data)
    except ValidationError as exc:
        where = f"line {number}: session"
        expected = f"a session state ({exc.errors()[0]['msg']})"
        raise PolicyLoadError(source, where, data, expected) from None
    # A secret result's pieces (or copied runs) are masked in the log: replay counts the label
    # (or its runs) as saturated, so its rules hold for every value (fail closed).
    masked = set()
    if SECRET_MARK in state.tainted.get("secret", ()):
        masked.add("secret")
    if SECRET_MARK in state.copied.get("secret", ()):
        masked.add(f"secret{RUNS_SATURATED}")
    if masked:
        saturated = tuple(sorted({*state.saturated, *masked}))
        return state.model_copy(update={"saturated": saturated})
    return state


def _replay_one(
    record: dict, number: int, policies: SessionPolicies, context: EvalContext, source: str
) -> ReplayChange | None:
    server, tool, arguments = record["server"], record["tool"], record.get("arguments") or {}
    if not isinstance(server, str) or not isinstance(tool, str) or not isinstance(arguments, dict):
        raise PolicyLoadError(
            source, f"line {number}", record, "string server/tool, object arguments"
        )
    call = ToolCall(server=server, tool=tool, arguments=arguments)
    state = _session_of(record, number, source)
    decision = evaluate_in_session(call, policies, context, state).decision
    old_rule = record.get("rule")
    if decision.decision == record["decision"]:
        return None
    old = f"{record['decision']} ({old_rule})" if old_rule else str(record["decision"])
    redacted = _REDACTED in json.dumps(arguments)
    return ReplayChange(
        number, server, tool, old, f"{decision.decision} ({decision.rule})", redacted
    )
