"""Provenance memory (pure, no I/O): strings that arrived in labelled tool results, found in
outgoing arguments.

A tool's annotation declares its results' label (``"result": "trusted" | "untrusted" |
"secret"``; unset is untrusted). From every untrusted or secret result the chokepoint keeps its
*pieces*: runs of text between white space and quoting or bracketing characters, trailing
punctuation trimmed, at least :data:`MIN_CHARS` characters (and, for ``key:value`` pieces, the
value alone). Before a call is judged, :meth:`ProvenanceMemory.hits` finds which kept pieces
occur, as exact substrings, in the call's arguments: those, and only those, go to the engine in
``SessionState.tainted`` and into the audit (so ``policy replay`` sees exactly what the engine
saw).

What it cannot catch: a value the agent paraphrased, re-typed differently (case, spacing,
``1,250`` for ``1250``), computed (a sum, a decoded string) or split across pieces; values
shorter than :data:`MIN_CHARS` (small amounts, short names). The memory is bounded: past
:data:`MAX_PIECES` it stops adding and reports the label *saturated*, and the engine then treats
every value as carrying that label (fail closed, never forgetting silently).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_PIECES", "MIN_CHARS", "ProvenanceMemory", "pieces_of"]

MIN_CHARS = 6
MAX_PIECES = 50_000  # ~ a few MB at most; a session reading more is saturated
MAX_PIECES_PER_RESULT = 5_000  # a huge page saturates its label instead of stalling the call
_LABELS = ("untrusted", "secret")
_SPLIT = re.compile(r"[\s\"'`<>()\[\]{},;|]+")
_TRIM = ".:!?*_"


def pieces_of(text: str) -> Iterator[str]:
    """The pieces of a result text worth remembering, in order (duplicates included)."""
    for raw in _SPLIT.split(text):
        piece = raw.strip(_TRIM)
        if len(piece) >= MIN_CHARS:
            yield piece
            if ":" in piece and "://" not in piece:
                tail = piece.rsplit(":", 1)[1].strip(_TRIM)
                if len(tail) >= MIN_CHARS:
                    yield tail


class ProvenanceMemory:
    """Per label: the remembered pieces, indexed by their first :data:`MIN_CHARS` characters so
    a search costs one dictionary lookup per character of the argument."""

    def __init__(self, limit: int = MAX_PIECES) -> None:
        self.limit = limit
        self._index: dict[str, dict[str, set[str]]] = {label: {} for label in _LABELS}
        self._count: dict[str, int] = dict.fromkeys(_LABELS, 0)
        self.saturated: set[str] = set()

    def remember(self, label: str, text: str) -> int:
        """Keep the pieces of one result; returns how many were new."""
        if label not in self._index or label in self.saturated:
            return 0
        index, added = self._index[label], 0
        for seen, piece in enumerate(pieces_of(text)):
            if seen >= MAX_PIECES_PER_RESULT or self._count[label] >= self.limit:
                self.saturated.add(label)
                break
            bucket = index.setdefault(piece[:MIN_CHARS], set())
            if piece not in bucket:
                bucket.add(piece)
                self._count[label] += 1
                added += 1
        return added

    def size(self, label: str) -> int:
        return self._count.get(label, 0)

    def hits(self, arguments: Any) -> dict[str, tuple[str, ...]]:
        """label -> the remembered pieces found in any string (or number) in ``arguments``."""
        found: dict[str, dict[str, None]] = {}
        texts = list(_strings(arguments))
        for label, index in self._index.items():
            if not index:
                continue
            for text in texts:
                for piece in _found_in(text, index):
                    found.setdefault(label, {})[piece] = None
        return {label: tuple(sorted(pieces)) for label, pieces in found.items()}


def _found_in(text: str, index: dict[str, set[str]]) -> Iterator[str]:
    for start in range(len(text) - MIN_CHARS + 1):
        bucket = index.get(text[start : start + MIN_CHARS])
        if bucket:
            for piece in bucket:
                if text.startswith(piece, start):
                    yield piece


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 64:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield repr(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)
