"""A fixed escalation request for the fuzz tests (the escalation factories live elsewhere)."""

from __future__ import annotations

from appliance.chokepoint.escalation.models import EscalationRequest


def trequest_like() -> EscalationRequest:
    return EscalationRequest(
        id="a" * 32,
        session_id="s",
        server="filesystem",
        tool="write_file",
        arguments={"path": "/x"},
        reason="r",
        rule="r",
        call_digest="0" * 64,
        policy_digest="p",
    )
