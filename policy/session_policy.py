"""Judging a call inside a session: the policy with the session's lists folded in, the state in
the context, and what the call would change returned as data.

``@task:NAME`` and ``@session:NAME`` in a rule's ``allowed`` name session lists. They are folded
into the policy's lists (a policy compiled once per distinct set of session lists, so every
list condition keeps the engine's own matching: exact, folded, e-mails, domains); counters, sums
and provenance hits reach the conditions through ``EvalContext.session``. Nothing here does I/O
or keeps global state: :class:`SessionPolicies` is a small cache its owner holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import ArgumentError, Decision, EvalContext, ToolCall
from policy.provenance import argument_strings
from policy.rules import scoped_name
from policy.session_state import (
    RECORD_FIELDS,
    REQUEST_WORDS,
    TASK_WORDS,
    SessionState,
    StateUpdate,
    is_session_list,
    scoped_list,
    updates_from,
)
from policy.task_grants import (
    ASKED,
    ASKED_IF,
    CONFIRMED,
    GRANT_LISTS,
    ON_CONDITION,
    ON_CONDITION_LIFTED,
    UNCONFIRMED,
    asked_in,
    shown_asked,
)

__all__ = [
    "SessionDecision",
    "SessionPolicies",
    "asks_verbs",
    "evaluate_in_session",
    "for_tool",
    "scoped_lists_named",
    "session_lists_named",
    "tool_scopes",
]

_CACHED = 8  # distinct list sets kept: a session's lists change a few times, not per call
_NOTHING = StateUpdate()


class SessionDecision(NamedTuple):
    decision: Decision
    # What the session records if the call goes ahead (allowed, or escalated and approved).
    update: StateUpdate


def session_lists_named(policy: Policy) -> tuple[str, ...]:
    """The ``task:``/``session:`` lists the policy's rules refer to (``@name``; in a rule with
    ``task.asks``, the request's lists by their scoped names)."""
    return tuple(scoped_lists_named(policy))


def scoped_lists_named(policy: Policy) -> dict[str, tuple[str, tuple[str, ...] | None]]:
    """Each session list a rule reads, by the name it is kept under: (the ``@name`` written,
    the ``asks`` scope or None)."""
    names: dict[str, tuple[str, tuple[str, ...] | None]] = {}
    for rule in policy.rules:
        cond = rule.when
        scope = cond.task.scope if cond.task is not None else None
        allowed = [*(cond.domains.allowed if cond.domains else ())]
        for entry in cond.lists or ():
            allowed.extend(entry.allowed)
            if entry.of_record is not None:
                names.setdefault(RECORD_FIELDS, (RECORD_FIELDS, None))
        allowed.extend(f"@{c.size}" for c in cond.session or () if c.size is not None)
        for item in allowed:
            if item.startswith("@") and is_session_list(item[1:]):
                name = scoped_name(item[1:], scope)
                names.setdefault(name, (item[1:], scope if name != item[1:] else None))
    return names


def asks_verbs(policy: Policy) -> tuple[str, ...]:
    """The verbs of every ``asks``/``asksNone`` entry and tool ``askedBy``: each starts an
    instruction."""
    verbs: dict[str, None] = {}
    entries: list[str] = []
    for rule in policy.rules:
        task = rule.when.task
        if task is not None:
            entries.extend((task.asks or ()) + (task.asks_none or ()))
    for scope in tool_scopes(policy):
        entries.extend(scope)
    for entry in entries:
        verbs.setdefault(entry.split()[0], None)
    return tuple(verbs)


def tool_scopes(policy: Policy) -> tuple[tuple[str, ...], ...]:
    """The distinct ``askedBy`` of the policy's tools."""
    found: dict[tuple[str, ...], None] = {}
    for tools in policy.annotations.values():
        for annotation in tools.values():
            if annotation.asked_by is not None:
                found.setdefault(annotation.asked_by, None)
    return tuple(found)


def for_tool(state: SessionState, asked_by: tuple[str, ...]) -> SessionState:
    """The state a call to a tool with ``askedBy`` is judged with: every list of the request
    (its values, the records bound to it, its words) replaced by the share of the instructions
    that ask for the tool; a rule's own ``asks`` share keeps only values in both."""
    lists = dict(state.lists)
    for name, values in state.lists.items():
        if not name.startswith("task:") or name in (ASKED, REQUEST_WORDS, RECORD_FIELDS):
            continue
        base, scoped, _ = name.partition("/asks:")
        share = state.lists.get(scoped_list(base, asked_by), ())
        if not scoped:
            lists[name] = share
        elif name != scoped_list(base, asked_by):
            kept = set(share)
            lists[name] = tuple(v for v in values if v in kept)
    if TASK_WORDS in state.lists and REQUEST_WORDS not in state.lists:
        lists[REQUEST_WORDS] = state.lists[TASK_WORDS]
    return state.model_copy(update={"lists": lists})


class SessionPolicies:
    """The base policy with a session's lists folded in, compiled once per distinct set."""

    def __init__(self, base: Policy) -> None:
        self.base = base
        self._named = frozenset(session_lists_named(base))
        self.updating = any(rule.session is not None for rule in base.rules)
        # Rules that read the task's words: the state (its lists) reaches the engine.
        self.reads_task = any(rule.when.task is not None for rule in base.rules)
        self._cache: dict[tuple, Policy] = {}

    def for_state(self, state: SessionState | None) -> Policy:
        if state is None or not self._named:
            return self.base
        relevant = tuple(sorted((k, v) for k, v in state.lists.items() if k in self._named))
        if not relevant:
            return self.base
        found = self._cache.get(relevant)
        if found is None:
            if len(self._cache) >= _CACHED:
                self._cache.pop(next(iter(self._cache)))
            found = self._cache[relevant] = _overlay(self.base, dict(relevant))
        return found


def _overlay(base: Policy, lists: dict[str, tuple[str, ...]]) -> Policy:
    # Same rules, annotations and digest (an approval stays bound to the policy the user has);
    # only the lists differ, and they are the session's, recorded in the audit with the call.
    return Policy(
        rules=base.rules,
        annotations=base.annotations,
        lists={**base.lists, **lists},
        digest=base.digest,
        source=base.source,
        declared_roles=base.declared_roles,
    )


def evaluate_in_session(
    call: ToolCall,
    policies: SessionPolicies,
    context: EvalContext,
    state: SessionState | None,
) -> SessionDecision:
    """The decision for ``call`` given the session's ``state``, and the update it would make."""
    decided = _evaluate(call, policies, context, state)
    waiting = _unconfirmed(call, state) if decided.decision.decision != "deny" else ()
    if not waiting:
        return decided
    plan = policies.base.plan_for(call.server, call.tool)
    if plan is not None and not plan.side_effects:
        # Only a side effect waits for the confirmation: reading a record changes nothing (and
        # an injected read must not be where the human is asked, and says yes, about a copy).
        return decided
    # A record bound from a listing declared with "confirm", or contested by another owner's
    # record (task_binding's _outscored), not confirmed yet: the human sees
    # which one the request was read as meaning before the side effect uses it; approving the
    # call confirms it for the rest of the task.
    update = decided.update.model_copy(
        update={"extend": {**decided.update.extend, CONFIRMED: confirmed_for(call, waiting)}}
    )
    if decided.decision.decision == "escalate":
        # Asked for another reason (a cap, a rule): approving confirms the records too, so the
        # question says so, and shows them (SessionRun adds how their listing described them).
        shown = ", ".join(repr(v) for v in waiting)
        reason = (
            f"{decided.decision.reason}. Approving also confirms {shown} as the record the "
            "request means (bound from a listing by the request's words, not typed by the user)"
        )
        return SessionDecision(decided.decision._replace(reason=reason), update)
    shown = ", ".join(repr(v) for v in waiting)
    reason = (
        f"{shown} was bound to this task from a listing by the words of the request (the user "
        "did not type it), and is confirmed before it is used: its listing asks for that, "
        "a record someone else made fits the request's words nearly as well, or someone "
        "else's record was found by a listing the agent narrowed. Is it the one meant?"
    )
    return SessionDecision(
        Decision(decision="escalate", rule="confirm-bound-record", reason=reason), update
    )


_FOR = "\t"  # task:confirmed holds "server/tool<TAB>id": a record confirmed for one tool


def confirmed_for(call: ToolCall, ids: tuple[str, ...]) -> tuple[str, ...]:
    """The ``task:confirmed`` entries an approval of ``call`` makes: each record confirmed for
    this tool only. Approving a harmless step (a snapshot of the VM a narrowed listing found)
    does not confirm the record for a destructive one (its deletion), which asks again."""
    return tuple(f"{call.server}/{call.tool}{_FOR}{i}" for i in ids)


def confirmed_ids(entries: Iterable[str]) -> tuple[str, ...]:
    """The record ids of ``task:confirmed`` entries, whatever tool each was confirmed for."""
    return tuple(dict.fromkeys(e.rpartition(_FOR)[2] for e in entries))


def _unconfirmed(call: ToolCall, state: SessionState | None) -> tuple[str, ...]:
    """The call's argument values that are bound records still waiting for confirmation."""
    if state is None or UNCONFIRMED not in state.lists:
        return ()
    folded = lambda values: {str(v).strip().casefold() for v in values}  # noqa: E731
    mine = f"{call.server}/{call.tool}{_FOR}"
    confirmed = [
        v.removeprefix(mine) if _FOR in v else v  # an entry without a tool: an older log's
        for v in state.lists.get(CONFIRMED, ())
        if _FOR not in v or v.startswith(mine)
    ]
    pending = folded(state.lists.get(UNCONFIRMED, ())) - folded(confirmed)
    if not pending:
        return ()
    # compared as a case-insensitive rule would (an id written "M-4" is still m-4)
    typed = folded(v for name in GRANT_LISTS for v in state.lists.get(name, ()))  # the user's
    waiting = pending - typed
    return tuple(sorted({v for v in argument_strings(call.arguments) if folded((v,)) & waiting}))


def _evaluate(
    call: ToolCall,
    policies: SessionPolicies,
    context: EvalContext,
    state: SessionState | None,
) -> SessionDecision:
    annotation = policies.base.annotations.get(call.server, {}).get(call.tool)
    asked_by = annotation.asked_by if annotation is not None else None
    if asked_by is not None:
        asked = state.lists.get(ASKED, ()) if state is not None else ()
        if not asked_in(asked_by, asked):
            read = (
                f"it was read as: {'; '.join(shown_asked(asked[:8]))}"
                if asked
                else "nothing in it was read as an instruction to act (one is an English "
                "sentence that starts with a verb, like 'approve Marta's leave'; 'send me…' "
                "and 'tell me…' ask only to be told)"
            )
            reason = (
                f"the user's request asks for none of {', '.join(repr(a) for a in asked_by)} "
                f"(what asks for {call.server}/{call.tool}: its annotation's askedBy); {read}"
            )
            not_asked = Decision(decision="deny", rule="task-not-asked", reason=reason)
            if annotation.when_not_asked == "deny":
                return SessionDecision(not_asked, _NOTHING)
            # "escalate": the rules judge it with the whole request's lists first, so what they
            # refuse (a value from untrusted text, one no instruction typed) stays refused; the
            # rest is put to the human with how the request was read
            return _judged_then_asked(
                call, policies, context, state, not_asked._replace(decision="escalate")
            )
        conditions = set(state.lists.get(ASKED_IF, ())) if state is not None else set()
        if conditions and not asked_in(asked_by, [a for a in asked if a not in conditions]):
            # Asked for only on a condition the agent is to judge ("If she has, approve it",
            # "merge it as long as CI is green"): whether the condition holds is read from
            # others' text (round 13: a planted note settled "has Sunita sorted out cover?").
            # The rules judge it first, so what they refuse stays refused; the rest is put to
            # the human with the condition.
            shown = "; ".join(shown_asked(tuple(a for a in asked if a in conditions)[:4]))
            reason = (
                f"the user's request asks for {call.server}/{call.tool} only on a condition the "
                f"agent judges from what it reads ({shown}): whether it holds is the user's call"
            )
            decision = Decision(decision="escalate", rule="task-asked-on-condition", reason=reason)
            return _judged_then_asked(call, policies, context, for_tool(state, asked_by), decision)
        on_condition = _on_condition(call, state, asked_by)
        state = for_tool(state, asked_by) if state is not None else None
        if on_condition:
            # Asked for unconditionally too, but these values only by an instruction given on a
            # condition ("Approve LV-3301. Approve LV-3307 if Jonah's cover is sorted."): the
            # rules judge it first, the rest goes to the human with the condition.
            shown = ", ".join(repr(v) for v in on_condition[:4])
            reason = (
                f"{shown} in this {call.server}/{call.tool} call was asked for only on a "
                "condition the agent judges from what it reads: whether it holds is the user's call"
            )
            decision = Decision(decision="escalate", rule="task-asked-on-condition", reason=reason)
            return _judged_then_asked(call, policies, context, state, decision)
    return _judge(call, policies, context, state)


def _judged_then_asked(
    call: ToolCall,
    policies: SessionPolicies,
    context: EvalContext,
    state: SessionState | None,
    asked: Decision,
) -> SessionDecision:
    """The rules judge the call first, so what they refuse stays refused; the rest is put to
    the human as ``asked`` says (with what the rules' allowing would have recorded)."""
    judged = _judge(call, policies, context, state)
    if judged.decision.decision == "deny":
        return judged
    return SessionDecision(asked, judged.update)


def _on_condition(
    call: ToolCall, state: SessionState | None, asked_by: tuple[str, ...]
) -> tuple[str, ...]:
    """The call's argument values that only an instruction given on a condition typed."""
    if state is None:
        return ()
    only = state.lists.get(scoped_list(ON_CONDITION, asked_by), ())
    if not only:
        return ()
    wanted = set(only) - set(state.lists.get(scoped_list(ON_CONDITION_LIFTED, asked_by), ()))
    return tuple(
        dict.fromkeys(v for v in argument_strings(call.arguments) if v.casefold() in wanted)
    )


def _judge(
    call: ToolCall,
    policies: SessionPolicies,
    context: EvalContext,
    state: SessionState | None,
) -> SessionDecision:
    policy = policies.for_state(state)
    # Lists reach the engine through the policy; the context carries the rest, and only when
    # there is some (copying the context costs more than the engine's own work on a simple call).
    read = state is not None and (
        state.counters
        or state.sums
        or state.tainted
        or state.copied
        or state.saturated
        or policies.reads_task
    )
    judged_in = context.model_copy(update={"session": state}) if read else context
    decision = evaluate(call, policy, judged_in)
    if decision.decision == "deny":
        return SessionDecision(decision, _NOTHING)
    if not policies.updating:
        return SessionDecision(decision, _NOTHING)
    return SessionDecision(decision, updates_for(call, policies.base))


def updates_for(call: ToolCall, policy: Policy) -> StateUpdate:
    """The ``session`` updates of the rules that apply to the call (their server, tool and
    side-effects conditions hold), each distinct update once, from the call's role values."""
    plan = policy.plan_for(call.server, call.tool)
    if plan is None:
        return _NOTHING
    # Each distinct update once: two rules for one tool (a granted flight, any flight) that
    # both say "count a booking" count it once.
    rules = list(dict.fromkeys(r.rule.session for r in plan.unscoped if r.rule.session is not None))
    if not rules:
        return _NOTHING
    try:
        values = plan.arguments.extract(call.arguments)
    except ArgumentError:
        return _NOTHING
    return updates_from(rules, [(v.role, v.value) for v in values])
