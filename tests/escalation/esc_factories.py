"""``t*`` factories with fixed values for escalation tests (imported by the test modules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.chokepoint.escalation import EscalationRequest, call_digest


def trequest(
    request_id: str = "req1", session_id: str = "sess-1", **overrides: Any
) -> EscalationRequest:
    arguments = overrides.pop("arguments", {"path": "/home/u/notes.txt", "content": "hi"})
    fields: dict[str, Any] = {
        "id": request_id,
        "session_id": session_id,
        "server": "filesystem",
        "tool": "write_file",
        "arguments": arguments,
        "reason": "writes outside the sandbox need approval",
        "rule": "escalate-write-home",
        "call_digest": call_digest("filesystem", "write_file", arguments, "p" * 64),
        "policy_digest": "p" * 64,
        "created": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    fields.update(overrides)
    return EscalationRequest(**fields)
