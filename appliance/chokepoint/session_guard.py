"""The chokepoint's session state in the audit: what the engine saw and what a call recorded.

The state itself is the pure ``policy.api.SessionRun`` the :class:`~appliance.chokepoint.trip.
Chokepoint` owns, one per session (the same one ``policy test`` sequences and the benchmark run).
Each call is judged with the state as it stands plus the provenance hits of its arguments; the
update is applied only when the call goes ahead (allowed, or escalated and approved), never for
a refused one. The state the engine saw and the update go into the call's audit record (below), so
``policy replay`` re-decides with the same state; task grants get their own record
(``type: "task-grants"``).
"""

from __future__ import annotations

from typing import Any

from policy.api import SECRET_MARK, Judged

__all__ = ["audit_fields"]


def audit_fields(judged: Judged) -> dict[str, Any]:
    """``session`` (the state the engine saw) and ``sessionUpdate`` for a call's record."""
    fields: dict[str, Any] = {}
    seen = judged.seen.audit_form()
    tainted = seen.get("tainted")
    if isinstance(tainted, dict) and "secret" in tainted:
        # The pieces of a secret result are the secret: the log keeps only that there were some
        # (policy replay then treats the label as saturated for this call).
        tainted["secret"] = [SECRET_MARK] * len(tainted["secret"])
    if seen:
        fields["session"] = seen
    if not judged.update.empty:
        fields["sessionUpdate"] = judged.update.audit_form()
    return fields
