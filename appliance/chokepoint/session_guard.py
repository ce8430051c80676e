"""The chokepoint's session state: task grants, session lists, counters and sums, provenance.

One per session, owned by the :class:`~appliance.chokepoint.trip.Chokepoint`. Each call is judged
by ``policy.api.evaluate_in_session`` with the state as it stands (plus the provenance hits of
this call's arguments); the update the engine returns is applied only when the call goes ahead
(allowed, or escalated and approved), never for a refused one. The state the engine saw and the
update are written to the call's audit record, so ``policy replay`` re-decides with the same
state. Task grants are written as their own audit record (``type: "task-grants"``).
"""

from __future__ import annotations

from typing import Any

from appliance.chokepoint.provenance import ProvenanceMemory
from policy.api import (
    SECRET_MARK,
    Decision,
    EvalContext,
    SessionPolicies,
    SessionState,
    StateUpdate,
    ToolCall,
    apply_updates,
    describe_grants,
    evaluate_in_session,
    task_grants,
)

__all__ = ["Judged", "SessionGuard"]


class Judged:
    """One call's decision with what the session saw and would record."""

    __slots__ = ("decision", "seen", "update")

    def __init__(self, decision: Decision, seen: SessionState, update: StateUpdate) -> None:
        self.decision, self.seen, self.update = decision, seen, update

    def audit_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        seen = self.seen.audit_form()
        tainted = seen.get("tainted")
        if isinstance(tainted, dict) and "secret" in tainted:
            # The pieces of a secret result are the secret: the log keeps only that there were
            # some (policy replay then treats the label as saturated for this call).
            tainted["secret"] = [SECRET_MARK] * len(tainted["secret"])
        if seen:
            fields["session"] = seen
        if not self.update.empty:
            fields["sessionUpdate"] = self.update.audit_form()
        return fields


class SessionGuard:
    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.policies = SessionPolicies(policy)
        self.state = SessionState()
        self.memory = ProvenanceMemory()

    def grant_task(self, text: str) -> tuple[dict[str, tuple[str, ...]], str]:
        """Add the values the user's message names to the ``task:*`` lists (a union over the
        session's messages); returns the grants of this message and the line to show."""
        grants = task_grants(text)
        if grants:
            update = StateUpdate(extend=grants)
            self.state = apply_updates(self.state, update)
        return grants, describe_grants(grants)

    def judge(self, call: ToolCall, context: EvalContext) -> Judged:
        seen = self._state_for(call)
        decision, update = evaluate_in_session(call, self.policies, context, seen)
        return Judged(decision, seen, update)

    def went_ahead(self, judged: Judged) -> None:
        """The call was allowed or approved: record what its rules say to record."""
        self.state = apply_updates(self.state, judged.update)

    def observe(self, server: str, tool: str, texts: list[str]) -> None:
        """A result came back: remember its pieces under the tool's declared label."""
        annotation = self.policy.annotations.get(server, {}).get(tool)
        label = (annotation.result if annotation is not None else None) or "untrusted"
        if label == "trusted":
            return
        for text in texts:
            self.memory.remember(label, text)

    def _state_for(self, call: ToolCall) -> SessionState:
        hits = self.memory.hits(call.arguments)
        saturated = tuple(sorted(self.memory.saturated))
        if not hits and not saturated:
            return self.state
        return self.state.model_copy(update={"tainted": hits, "saturated": saturated})
