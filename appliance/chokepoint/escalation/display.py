"""Showing untrusted text on a terminal: the agent chose these strings, not the approver.

A tool call's arguments, a tool name or a logged reason may carry escape sequences that move
the cursor, rewrite lines already shown or retitle the window, so an approver could be shown
one call and approve another. Every character that is not printable is shown as an escape
(``\\x1b``, ``\\n``, ``\\u202e``) instead.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from appliance.chokepoint.escalation.models import EscalationRequest

__all__ = ["format_request", "neutralise", "shown_arguments"]

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def neutralise(text: str, *, json_text: bool = False) -> str:
    """Return ``text`` with control, format (bidi overrides) and other unprintable chars escaped.

    Backslashes are doubled so a literal ``\\x1b`` typed by the agent stays distinguishable,
    except in ``json_text``, where JSON has escaped them already.
    """
    if text.isprintable() and (json_text or "\\" not in text):
        return text
    return "".join(_escape(c) if _unsafe(c, json_text) else c for c in text)


def _unsafe(char: str, json_text: bool) -> bool:
    if char == "\\":
        return not json_text
    return char in _SHORT or (char != " " and unicodedata.category(char)[0] in "CZ")


def shown_arguments(arguments: dict[str, Any], limit: int) -> tuple[str, bool]:
    """A call's arguments as JSON cut at ``limit`` characters and neutralised, and whether the
    whole of it fits (a channel that cut it must not let the cut call be approved)."""
    text = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    whole = len(text) <= limit
    if not whole:
        text = text[:limit] + f"... ({len(text) - limit} more characters)"
    return neutralise(text, json_text=True), whole


def _target_lines(request: EscalationRequest) -> list[str]:
    """Every role value of the call (paths, URLs, declared roles), one a line, before any free
    text. Requests without ``targets`` (older files, calls with no role values) show their
    short top-level string arguments in full instead."""
    if request.targets:
        pairs = [(role, value) for role, values in request.targets.items() for value in values]
    else:
        pairs = [
            (key, value)
            for key, value in sorted(request.arguments.items())
            if isinstance(value, str) and len(value) <= _FULL_LIMIT
        ]
    width = max((len(label) for label, _ in pairs), default=0)
    return [f"    {neutralise(label):<{width}}  {neutralise(value)}" for label, value in pairs]


_FULL_LIMIT = 4096
_TERMINAL_LIMIT = 2000  # the arguments are cut here; the role values above are shown whole


def format_request(number: int, request: EscalationRequest, *, session: bool = False) -> str:
    """A few lines describing one escalation, safe to print: server and tool, then every role
    value of the call, then the (cut) arguments and the reason, then what "similar" would cover."""
    where = f" [session {neutralise(request.session_id)}]" if session else ""
    lines = [f"[{number}] {neutralise(request.server)}/{neutralise(request.tool)}{where}"]
    lines += _target_lines(request)
    lines.append(f"    arguments: {shown_arguments(request.arguments, _TERMINAL_LIMIT)[0]}")
    lines.append(f"    reason:    {neutralise(request.reason)} (rule {neutralise(request.rule)})")
    similar = (
        f"/approve {number} similar (covers {neutralise(request.similar)})"
        if request.similar
        else f"/approve {number} similar"
    )
    lines.append(f"    answer:    /approve {number}  |  {similar}  |  /deny {number}")
    return "\n".join(lines)
