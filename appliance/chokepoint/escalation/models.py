"""What an escalation asks and what the answer says."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["EscalationRequest", "Verdict", "call_digest", "new_request_id", "plain_call_digest"]

# The id becomes part of file names, so it is held to a shape that cannot leave the folder.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def new_request_id() -> str:
    return uuid.uuid4().hex


def call_digest(server: str, tool: str, arguments: dict[str, Any], policy_digest: str) -> str:
    """SHA-256 of the canonical JSON of (server, tool, arguments, policy): what an approval is
    bound to, so it can be replayed neither onto another call nor onto a changed policy."""
    return _digest(server, tool, arguments, policy_digest, allow_nan=True)


def plain_call_digest(
    server: str, tool: str, arguments: dict[str, Any], policy_digest: str
) -> str | None:
    """:func:`call_digest` when ``arguments`` are plain JSON data (what the audit log can hold:
    no NaN or Infinity, no other types, no lone surrogate, not too deep), else None (the caller
    asks ``json_problem`` why). One encoding answers both questions on a call's path."""
    try:
        return _digest(server, tool, arguments, policy_digest, allow_nan=False)
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def _digest(
    server: str, tool: str, arguments: dict[str, Any], policy_digest: str, *, allow_nan: bool
) -> str:
    canonical = json.dumps(
        {"server": server, "tool": tool, "arguments": arguments, "policy": policy_digest},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=allow_nan,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class EscalationRequest(BaseModel):
    """One escalated call, as shown to the approver. ``arguments`` are redacted for display.

    On disk (``request-<id>.json``) the field names are camelCase (``callDigest``...).
    """

    model_config = ConfigDict(
        defer_build=True,
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    id: str = Field(pattern=_ID_PATTERN)
    session_id: str = Field(min_length=1, max_length=200)
    server: str
    tool: str
    arguments: dict[str, Any]
    reason: str
    rule: str
    call_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    policy_digest: str
    # Every value of every role of the call (role -> values: paths where they resolve, URLs,
    # declared roles; approvals.targets), shown before any free text, and what "approve
    # similar" would whitelist, named, so the approver sees the scope.
    targets: dict[str, list[str]] = Field(default_factory=dict)
    similar: str = ""
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def to_file_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=1)


class Verdict(BaseModel):
    """The answer to one escalation. ``by``: user, listener, auto-approver, whitelist...

    A denial is one of three kinds: a person said no; nobody answered in time (``timed_out``,
    the audit outcome ``timeout``); or the channel broke (``failed``: unwritable folder,
    malformed response, dead listener). All three deny. The kinds matter when several channels
    are asked at once: a broken or silent channel must not pre-empt a person answering on another.
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    approved: bool
    by: str
    scope: Literal["once", "similar"] = "once"
    note: str = ""
    timed_out: bool = False
    failed: bool = False

    @property
    def outcome(self) -> str:
        if self.approved:
            return "approved"
        return "timeout" if self.timed_out else "denied"

    @property
    def answered(self) -> bool:
        """True when a person (or the listener on their behalf) gave this answer."""
        return not (self.timed_out or self.failed)

    @classmethod
    def deny(cls, by: str, note: str, *, timed_out: bool = False, failed: bool = False) -> Verdict:
        return cls(approved=False, by=by, note=note, timed_out=timed_out, failed=failed)
