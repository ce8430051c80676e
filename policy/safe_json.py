"""JSON from an untrusted sender, parsed with explicit limits before anything else looks at it.

Every entry point of the appliance (the Code Mode bridge, the guest's answer, ``mcp-proxy``, the
Docker gate socket, escalation files) parses with :func:`loads`, so one rule holds everywhere:

- size: at most ``max_bytes`` of UTF-8 (invalid UTF-8 and lone surrogates are refused);
- depth: at most ``max_depth`` nested arrays/objects, counted on the text *before* parsing and
  without recursion, so ``RecursionError`` cannot happen (the stdlib parser recurses);
- numbers: ``NaN``, ``Infinity``, ``-Infinity`` and floats that overflow (``1e999``) are refused,
  so whatever is accepted can be written to the audit log (which refuses them) and re-sent as
  standard JSON;
- objects: a key given twice is refused (two parsers could keep different copies);
- values: at most ``MAX_VALUES`` arrays, objects, elements and members, counted on the text
  before parsing (a line of millions of tiny objects is gigabytes of Python objects).

Every failure raises :class:`JSONRefused` (a ``ValueError``) whose message names the limit and
the value; it never contains the input itself. Pure: no I/O, no globals written.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_VALUES",
    "JSONRefused",
    "loads",
    "value_count",
    "values_over_limit",
]

DEFAULT_MAX_DEPTH = 64
# At most this many values in one message (``value_count``), whatever its size: Python makes an
# object of each, ~100 bytes for the smallest, so a 16 MB line of "{}," was ~500 MB of them and
# a 64 MB one ~1.5 GB; this is at most ~200 MB. A listing of 100,000 records of ten fields is
# about 1,100,000. Counted only in a text over 1 MiB (a shorter one cannot hold more).
MAX_VALUES = 2_000_000
_UNCOUNTED = 1024 * 1024

# A JSON string literal (unrolled loop: linear, no backtracking), and what survives of the text
# once strings are gone: only brackets matter for depth.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_BYTES = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_MARKS, _MARK_BYTES = (",", "[", "{"), (b",", b"[", b"{")  # what value_count counts
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JSONRefused(ValueError):
    """The input is not JSON this appliance accepts. The message completes "arguments ..." or
    "message ...": it names the rule and the value, never echoes the input."""


def loads(data: str | bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse ``data`` under the limits above, or raise :class:`JSONRefused`."""
    text, size = _text_and_size(data)
    if size > max_bytes:
        raise JSONRefused(f"too large ({size} bytes; the limit is {max_bytes})")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JSONRefused(f"nested too deeply (depth {depth}; the limit is {max_depth})")
    if (count := values_over_limit(text)) is not None:
        raise JSONRefused(f"too many values ({count} or more; the limit is {MAX_VALUES})")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except JSONRefused:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces
        raise JSONRefused(f"not valid JSON: {_short(exc)}") from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value)
    return value


def value_count(text: str | bytes) -> int:
    """How many values ``text`` holds at most: each array or object, and each element or member
    after the first (its comma), outside string literals. Those inside strings are counted
    first, as a fast upper bound; the strings are taken out only when it is over the limit."""
    if isinstance(text, str):
        marks, strings, empty = _MARKS, _STRING, ""
    else:
        marks, strings, empty = _MARK_BYTES, _STRING_BYTES, b""
    found = sum(text.count(mark) for mark in marks)
    if found <= MAX_VALUES:
        return found
    bare = strings.sub(empty, text)
    return sum(bare.count(mark) for mark in marks)


def values_over_limit(text: str | bytes) -> int | None:
    """``value_count(text)`` when it is over ``MAX_VALUES``, else None. A text of at most
    ``_UNCOUNTED`` characters (or bytes) is not counted: a value takes one at least."""
    if len(text) <= _UNCOUNTED:
        return None
    count = value_count(text)
    return count if count > MAX_VALUES else None


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside string literals, found without recursion."""
    if "[" not in text and "{" not in text:
        return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    steps = array("b", brackets.encode("ascii").translate(_OPEN_CLOSE))
    return max(0, max(accumulate(steps)))


def _text_and_size(data: str | bytes) -> tuple[str, int]:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        try:
            return raw.decode("utf-8"), len(raw)
        except UnicodeDecodeError as exc:
            raise JSONRefused(f"not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(data, str):
        raise JSONRefused(f"expected JSON text, got {type(data).__name__}")
    if data.isascii():
        return data, len(data)
    try:
        return data, len(data.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise JSONRefused(f"refused: a lone surrogate (character {exc.start})") from None


def _refuse_constant(name: str) -> Any:
    raise JSONRefused(f"refused: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(f"refused: the number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONRefused(f"refused: the key {key[:80]!r} appears twice in one object")
            seen.add(key)
    return result


def _refuse_lone_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JSONRefused(f"refused: a lone surrogate (character {exc.start})") from None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
