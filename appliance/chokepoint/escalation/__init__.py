"""Asking a human about an escalated tool call, and getting an answer that cannot be forged.

A channel takes an :class:`EscalationRequest` and returns a :class:`Verdict`. Channels: the
in-process prompt (``/approve``, ``/deny``), file IPC with the ``escalation-listener`` command
(atomic ``request-<id>.json`` / ``response-<id>.json`` in the session's ``escalations/``
folder), the MCP client of ``mcp-proxy`` (elicitation, in ``client.py``), and a composite
where the first answer wins. The registry lets the listener find the
running sessions.

Every channel fails closed: a timeout, a malformed or mismatched response, a listener that died,
or any error inside the channel is a denial, never an approval and never an exception the
chokepoint has to interpret. An approval names the exact call digest it approves.

May import: chokepoint models, config, host, ``policy.api``, ``servers.wire``; litellm only in
``auto_approver``.
"""

from appliance.chokepoint.escalation.composite import FirstAnswer
from appliance.chokepoint.escalation.files import FileChannel
from appliance.chokepoint.escalation.interactive import InteractivePrompt
from appliance.chokepoint.escalation.models import (
    EscalationRequest,
    Verdict,
    call_digest,
    new_request_id,
)
from appliance.chokepoint.escalation.registry import (
    Registration,
    SessionEntry,
    listener_pid,
    live_sessions,
    register_session,
)

__all__ = [
    "EscalationRequest",
    "FileChannel",
    "FirstAnswer",
    "InteractivePrompt",
    "Registration",
    "SessionEntry",
    "Verdict",
    "call_digest",
    "listener_pid",
    "live_sessions",
    "new_request_id",
    "register_session",
]
