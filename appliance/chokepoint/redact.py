"""Mask secrets in what the appliance writes down (the audit log, escalation prompts).

Redaction is a privacy measure for the log, not a security boundary: the agent already holds
whatever it sends, so the aim is that a card number, an SSN or an API key in a tool call's
arguments is not kept on disk. It is on by default.

What is masked, each replaced by ``[REDACTED:<kind>]``:

- card numbers, 13-19 digits written contiguously or in the usual groups (4-4-4-4, 4-4-4-4-3,
  4-4-4-1..4, Amex 4-6-5, Diners 4-6-4) with one kind of separator (space or dash), and only
  when the Luhn check passes, so order ids and timestamps stay readable;
- US SSNs ``AAA-GG-SSSS`` outside the never-issued ranges (area 000, 666, 900-999; group 00;
  serial 0000);
- API keys: Anthropic ``sk-ant-``, OpenAI ``sk-``/``sk-proj-``, Google ``AIza``, GitHub
  ``ghp_ gho_ ghu_ ghs_ ghr_ github_pat_``, AWS key ids ``AKIA``/``ASIA``, AWS secret keys after
  ``aws_secret_access_key`` (as text, or as the value of a mapping key of that name), and bearer
  tokens.

Every pattern is linear-time under Python's backtracking engine: each quantifier is bounded or
followed by nothing that could fail and send the engine back into it, and left-boundary
look-behinds stop a match from being re-tried at every position inside a long run. A test feeds
1 MB adversarial strings through all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["redact", "redact_text"]

_MAX_DEPTH = 200  # deeper data than any real tool call; masked whole rather than recursed
_SECRET_KEYS = {"aws_secret_access_key": "aws-secret-key"}

# Each pattern starts with a literal or a character set so the regex engine can skip ahead to
# candidates; the left boundary is a look-behind placed just after that first part (its window
# covers the boundary character plus what was matched), which is equivalent to one in front.
_CARD = re.compile(
    r"[0-9](?<![0-9][0-9])(?:"
    r"[0-9]{12,18}"
    r"|[0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,4}(?:\1[0-9]{3})?"
    r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5}"
    r")(?![0-9])"
)
# Area 000, 666 and 900-999, group 00 and serial 0000 were never issued.
_SSN = re.compile(
    r"[0-8](?<![0-9-][0-8])[0-9]{2}(?<!000)(?<!666)-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![0-9]|-[0-9])"
)
_ANY_DIGIT = re.compile(r"[0-9]")
_K = "[A-Za-z0-9_-]"  # the characters API keys are made of
# (kind, a substring every match contains, pattern): the substring test skips a pass cheaply.
_KEY_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("anthropic-key", "sk-ant-", re.compile(rf"sk-ant-(?<!{_K}sk-ant-){_K}{{20,}}")),
    (
        "openai-key",
        "sk-",
        re.compile(rf"sk-(?<!{_K}sk-)(?!ant-)(?:proj-|svcacct-|admin-)?{_K}{{20,}}"),
    ),
    ("google-key", "AIza", re.compile(rf"AIza(?<!{_K}AIza){_K}{{35}}")),
    ("github-token", "gh", re.compile(r"gh[pousr]_(?<![A-Za-z0-9_]gh[pousr]_)[A-Za-z0-9]{36,}")),
    (
        "github-token",
        "github_pat_",
        re.compile(r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}"),
    ),
    (
        "aws-access-key-id",
        "IA",
        re.compile(r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ),
)
# The name, an optional closing quote, ``=`` or ``:``, and an optional opening quote; only the
# 40-character value is replaced so the log still says which setting was there.
_AWS_SECRET = re.compile(
    r"(aws_secret_access_key[\"']?[ \t]{0,8}[=:][ \t]{0,8}[\"']?)"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
    re.IGNORECASE,
)
_BEARER = re.compile(
    r"(bearer(?<![A-Za-z0-9]bearer)[ \t]{1,8})([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE
)
_SEPARATORS = str.maketrans("", "", " -")
_DOUBLED = str.maketrans("0123456789", "0246813579")  # 2*d, digits summed (Luhn)


def _tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _luhn_ok(digits: str) -> bool:
    odd = sum(map(int, digits[-1::-2]))
    even = sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return (odd + even) % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = text.translate(_SEPARATORS)
    if _luhn_ok(digits):
        return _tag("card-number")
    # 4-4-4-4 followed by a 3-digit group may be a 16-digit card and its security code.
    sep = match.group(1)
    if sep and text.count(sep) == 4:
        head, tail = text.rsplit(sep, 1)
        if _luhn_ok(head.replace(sep, "")):
            return _tag("card-number") + sep + tail
    return text


def _random_looking(token: str) -> bool:
    """A secret has a digit in it; a kebab-case word (``sk-learn-...``) does not."""
    return any(c.isdigit() for c in token)


def _openai(match: re.Match[str]) -> str:
    return _tag("openai-key") if _random_looking(match.group(0)) else match.group(0)


def _bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    # "the bearer instrument" is prose; a token is long or has digits/symbols in it.
    if len(token) >= 16 or any(not c.isalpha() for c in token):
        return match.group(1) + _tag("bearer-token")
    return match.group(0)


def _simple(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: _tag(kind)


def redact_text(s: str) -> str:
    """Return ``s`` with every recognised secret replaced by ``[REDACTED:<kind>]``."""
    for kind, needle, pattern in _KEY_PATTERNS:
        if needle in s:
            s = pattern.sub(_openai if kind == "openai-key" else _simple(kind), s)
    lowered = s.lower()
    if "aws_secret_access_key" in lowered:
        s = _AWS_SECRET.sub(lambda m: m.group(1) + _tag("aws-secret-key"), s)
    if "bearer" in lowered:
        s = _BEARER.sub(_bearer, s)
    if _ANY_DIGIT.search(s):
        s = _SSN.sub(_simple("ssn"), s)
        s = _CARD.sub(_card, s)
    return s


def redact(value: Any) -> Any:
    """Deep-copy JSON-like data with every string redacted (keys too).

    Dicts, lists and tuples are copied; other scalars are returned as they are. A string under
    a mapping key that names a secret (``aws_secret_access_key``) is masked whole. Data nested
    deeper than any real tool call is replaced by a marker rather than walked.
    """
    return _redact(value, 0)


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        return _tag("too-deep")
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            secret_kind = _SECRET_KEYS.get(key.lower()) if isinstance(key, str) else None
            if secret_kind and isinstance(item, str) and item:
                out[_redact(key, depth + 1)] = _tag(secret_kind)
            else:
                out[_redact(key, depth + 1)] = _redact(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, depth + 1) for item in value)
    return value


def redact_literals(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    """``value`` with every occurrence of a known secret (a declared server's credentials)
    replaced by ``[REDACTED:server-credential]``, whatever the ``auditRedaction`` setting."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _tag("server-credential"))
        return value
    if depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        return _tag("too-deep")
    if isinstance(value, dict):
        return {
            redact_literals(k, secrets, depth + 1): redact_literals(v, secrets, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_literals(item, secrets, depth + 1) for item in value)
    return value
