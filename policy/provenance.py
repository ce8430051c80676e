"""Provenance memory (pure, no I/O): pieces of text that arrived in labelled tool results,
found again in the arguments of later calls.

A tool's annotation declares its results' label (``"result": "trusted" | "untrusted" |
"secret"``; unset is untrusted). From every untrusted or secret result the chokepoint keeps its
*pieces*, case-folded: runs of text between white space and quoting or bracketing characters,
trailing punctuation trimmed; for ``key:value`` runs also the value; and groups written with
spaces (``LT60 1010 0123 4567``, ``+41 79 123 45 67``) also joined up; and the phone numbers and
IBANs found in it in the canonical form the ``text-phones`` and ``text-ibans`` roles give their
values (a phone number also by its last 7 digits), which an argument's numbers are also searched
in, however they are spaced or dashed there. A piece of at least
:data:`MIN_CHARS` characters matches anywhere inside an argument (exact substring); a short one
(3 to 5 characters: a flight number, a short id) only an argument that is exactly that piece;
so does a *phrase*, a run of 2 to 6 words of a short string (``Mum's cell``, ``Tom Lee``:
each word alone too short, or split at its apostrophe, to find anywhere; together they name
something).
Before a call is judged, :meth:`ProvenanceMemory.hits` finds which kept pieces occur in the
call's arguments: those, and only those, go to the engine (``SessionState.tainted``) and into
the audit, so ``policy replay`` sees exactly what the engine saw.

For a policy with a ``provenance`` condition on ``words`` (copied text), the results of the
labels those conditions read are also kept as *runs*: every three words in a row (as
:func:`~policy.session_state.text_words` gives them, from a JSON result's decoded strings), as
in-process hashes; :meth:`ProvenanceMemory.copies` finds an argument's longest chains of them
and records each as a length and a digest, never the words.

What it cannot catch: a value the agent paraphrased or re-spelled (``eve`` + ``2024``, "evil at
example dot com" unless a long piece survives), reformatted (``1,250`` for ``1250``), computed
(a sum, a decoded string), or split across pieces; values of fewer than 3 characters. The memory
is bounded: past :data:`MAX_PIECES` it stops adding and reports the label *saturated*, and the
engine then treats every value as carrying that label (fail closed, never forgetting silently).
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from policy.session_state import (
    AS_ASCII,
    COPY_WORDS,
    MAX_TEXT_WORDS,
    MIN_PIECE_CHARS,
    RUNS_SATURATED,
    SHORT_PIECE_CHARS,
    number_forms,
    phrase_form,
    phrase_words,
    run_digest,
    telling,
    text_words,
)

__all__ = [
    "MAX_PIECES",
    "MIN_CHARS",
    "ProvenanceMemory",
    "argument_strings",
    "phrases_of",
    "pieces_of",
    "result_strings",
    "words_read",
]

MIN_CHARS = MIN_PIECE_CHARS
MAX_PIECES = 200_000  # ~20 MB at most; a session that reads more is saturated
MAX_PIECES_PER_RESULT = 50_000  # a bigger result saturates its label (a ~500 KB text)
MAX_RUNS = 400_000  # runs of words kept per label (~25 MB); past it its runs are saturated
MAX_COMPARISONS = 2_000_000  # piece comparisons one call's search may make per label (~0.2 s)
MAX_RUNS_PER_CALL = 64  # copied runs one call records per label; more: saturated for the call
_LABELS = ("untrusted", "secret")
_SPLIT = re.compile(r"[\s\"'`<>()\[\]{},;|]+")
_TRIM = ".:!?*_"
# Three or more space-separated groups of up to 4 letters and digits, each with a digit: IBANs
# and phone numbers as people write them ("LT60 1010 0123", "+41 79 123 45 67").
_GROUP = r"(?=[0-9A-Za-z]{0,3}[0-9])[0-9A-Za-z]{1,4}"
_GROUPED = re.compile(rf"(?<!\S)\+?{_GROUP}(?: {_GROUP}){{2,}}(?![^\s.,;:!?])")


MAX_PHRASE_WORDS = 6
MAX_PHRASE_SOURCE = 500  # characters of a result's string read for phrases (a name, a note)
MAX_PHRASES = 200_000  # per label and session (~20 MB); past it phrases are saturated


def phrases_of(text: str) -> Iterator[str]:
    """Runs of 2 to :data:`MAX_PHRASE_WORDS` words in a row (as :func:`phrase_words` reads
    them), joined by one space: found only as a whole argument ("Mum's cell", "Tom Lee"),
    never inside one ("for the")."""
    words = phrase_words(text)
    for start in range(len(words) - 1):
        for size in range(2, MAX_PHRASE_WORDS + 1):
            if start + size > len(words):
                break
            yield " ".join(words[start : start + size])


def _phrase_shaped(phrase: str) -> bool:
    return 2 <= len(phrase.split(" ")) <= MAX_PHRASE_WORDS


def pieces_of(text: str) -> Iterator[str]:
    """The pieces of a result text worth remembering, folded, in order (duplicates included)."""
    for raw in _SPLIT.split(text):
        piece = raw.strip(_TRIM).casefold()
        if len(piece) >= SHORT_PIECE_CHARS:
            yield piece
            if ":" in piece and "://" not in piece:
                tail = piece.rsplit(":", 1)[1].strip(_TRIM)
                if len(tail) >= SHORT_PIECE_CHARS:
                    yield tail
    for group in _GROUPED.findall(text):
        yield group.replace(" ", "").casefold()
    yield from _numbers(text)


def _result_pieces(text: str, data: Any = None) -> Iterator[str]:
    """The pieces of a result: of its text as sent, and, for a JSON result, of its strings
    decoded as the reader sees them (an address after an escaped line break, ``\\n``, or
    between escaped quotes, ``\\"``, is a piece of its own only once decoded)."""
    yield from pieces_of(text)
    yield from _decoded_pieces(text, 0, data)


def _decoded_pieces(text: str, depth: int, data: Any = None) -> Iterator[str]:
    # a string of a JSON result that is JSON itself (a field holding an encoded object) is read
    # decoded too, a few levels down
    if depth >= 4 or text.lstrip()[:1] not in ("{", "[", '"'):
        return
    for string in result_strings(text, data):
        if string is not text:  # the text itself when it is not JSON: done by the caller
            yield from pieces_of(string)
            yield from _decoded_pieces(string, depth + 1)


def _numbers(text: str) -> Iterator[str]:
    """The phone numbers and IBANs in ``text`` as :func:`number_forms` gives them (the engine's
    provenance test reads an argument's the same way)."""
    yield from number_forms(text)


class ProvenanceMemory:
    """Per label: long pieces indexed by their first :data:`MIN_CHARS` characters (a search
    costs one dictionary lookup per character of the argument), short pieces in a set."""

    def __init__(
        self, limit: int = MAX_PIECES, *, runs: Iterable[str] = (), texts: Iterable[str] = ()
    ) -> None:
        self.limit = limit
        self._index: dict[str, dict[str, set[str]]] = {label: {} for label in _LABELS}
        self._short: dict[str, set[str]] = {label: set() for label in _LABELS}
        self._count: dict[str, int] = dict.fromkeys(_LABELS, 0)
        self.saturated: set[str] = set()
        # runs of short words of a result's short strings (names, titles), found only as a
        # whole argument; past MAX_PHRASES a label's phrases are saturated: every argument of
        # such words then counts as one (fail closed, for those arguments alone)
        self._phrases: dict[str, set[str]] = {label: set() for label in _LABELS}
        self.phrases_saturated: set[str] = set()
        # ``runs``: the labels a provenance condition on ``words`` reads. For those, every run
        # of COPY_WORDS words of each result, as an in-process hash (~60 bytes), for copies().
        self.runs = frozenset(runs) & set(_LABELS)
        self._runs: dict[str, set[int]] = {label: set() for label in self.runs}
        # ``texts``: the labels a provenance condition on ``afterText`` reads. For those, the
        # most words one text of such a result had (counted up to MAX_TEXT_WORDS).
        self.texts = frozenset(texts) & set(_LABELS)
        self.read: dict[str, int] = {}

    def remember(self, label: str, text: str) -> int:
        """Keep the pieces of one result; returns how many were new."""
        if label not in self._index:
            return 0
        added = 0
        data = parsed(text)  # once, for every walk below
        if label not in self.saturated:
            added += self._remember_pieces(label, text, data)
        if label not in self.phrases_saturated:
            added += self._remember_phrases(label, text, data)
        runs = label in self.runs and f"{label}{RUNS_SATURATED}" not in self.saturated
        counts = label in self.texts and self.read.get(label, 0) < MAX_TEXT_WORDS
        if runs:
            for string in result_strings(text, data):
                added += self._remember_runs(label, text_words(string))
        if counts:
            for string in texts_read(text, data):
                size = words_read(string)
                if size > self.read.get(label, 0):
                    self.read[label] = size
                if size >= MAX_TEXT_WORDS:
                    break
        return added

    def _remember_phrases(self, label: str, text: str, data: Any = None) -> int:
        phrases, added = self._phrases[label], 0
        for string in result_strings(text, data):
            if len(string) > MAX_PHRASE_SOURCE or not any(c.isspace() for c in string):
                continue  # prose, or one token (an address, an id): no name of several words
            for phrase in phrases_of(string):
                if phrase in phrases:
                    continue
                if len(phrases) >= MAX_PHRASES:
                    self.phrases_saturated.add(label)
                    return added
                phrases.add(phrase)
                added += 1
        return added

    def _remember_pieces(self, label: str, text: str, data: Any = None) -> int:
        added = 0
        for seen, piece in enumerate(_result_pieces(text, data)):
            if seen >= MAX_PIECES_PER_RESULT or self._count[label] >= self.limit:
                self.saturated.add(label)
                break
            if len(piece) < MIN_CHARS:
                bucket = self._short[label]
            else:
                bucket = self._index[label].setdefault(piece[:MIN_CHARS], set())
            if piece not in bucket:
                bucket.add(piece)
                self._count[label] += 1
                added += 1
        return added

    def _remember_runs(self, label: str, words: list[str]) -> int:
        runs, added = self._runs[label], 0
        for start in range(len(words) - COPY_WORDS + 1):
            key = hash(tuple(words[start : start + COPY_WORDS]))
            if key not in runs:
                if len(runs) >= MAX_RUNS:
                    self.saturated.add(f"{label}{RUNS_SATURATED}")
                    break
                runs.add(key)
                added += 1
        return added

    def copies(self, arguments: Any) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
        """(label -> the runs of the strings of ``arguments`` that a result of that label also
        wrote, word for word, as :func:`run_digest` records them; the labels whose runs are too
        many to record for this call, which then count as saturated for it). A run is a longest
        chain of COPY_WORDS-word windows the results wrote, each starting one word after the
        last, with at least two words of four letters or more (:func:`telling`). Linear in the
        arguments' words."""
        found: dict[str, dict[str, None]] = {}
        over: list[str] = []
        texts = [text_words(text) for text in argument_strings(arguments)] if self.runs else []
        # each text's windows hashed once, for every label
        keys = [
            [hash(tuple(words[at : at + COPY_WORDS])) for at in range(len(words) - COPY_WORDS + 1)]
            for words in texts
        ]
        for label in sorted(self.runs):
            runs = self._runs[label]
            if not runs:
                continue
            kept = found.setdefault(label, {})
            for words, windows in zip(texts, keys, strict=True):
                start = None  # the first window of the chain being followed
                for at in range(len(windows) + 1):
                    hit = at < len(windows) and windows[at] in runs
                    if hit and start is None:
                        start = at
                    elif not hit and start is not None:
                        run = words[start : at - 1 + COPY_WORDS]
                        if telling(run) >= 2:
                            kept[run_digest(run)] = None
                        start = None
            if len(kept) > MAX_RUNS_PER_CALL:
                over.append(f"{label}{RUNS_SATURATED}")
                kept.clear()
        return {label: tuple(sorted(r)) for label, r in found.items() if r}, tuple(over)

    def size(self, label: str) -> int:
        return self._count.get(label, 0)

    def hits(self, arguments: Any) -> dict[str, tuple[str, ...]]:
        """label -> the remembered pieces found in the strings (and numbers) of ``arguments``."""
        return self.search(arguments)[0]

    def search(self, arguments: Any) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
        """(:meth:`hits`; the labels whose search took more than :data:`MAX_COMPARISONS`, which
        then count as saturated for this call: a result can hold tens of thousands of pieces
        that share their first characters, and an argument that repeats them would cost each
        position a comparison with every one of them)."""
        found: dict[str, dict[str, None]] = {}
        over: list[str] = []
        strings = list(argument_strings(arguments))
        texts = [text.casefold() for text in strings]
        # and the phone numbers and IBANs in them, written the canonical way (re-spacing or
        # re-dashing a number copied from a result does not hide it), read before case is
        # folded (a vanity number "0800 LIN DENT" is one in capitals only)
        texts += [" ".join(nums).casefold() for text in strings if (nums := list(_numbers(text)))]
        for label in _LABELS:
            index, short = self._index[label], self._short[label]
            budget = [MAX_COMPARISONS]
            for text in texts:
                if short and text.strip() in short:
                    found.setdefault(label, {})[text.strip()] = None
                phrase = phrase_form(text)
                if phrase in self._phrases[label] or (
                    label in self.phrases_saturated and _phrase_shaped(phrase)
                ):
                    found.setdefault(label, {})[phrase] = None
                for piece in _found_in(text, index, budget) if index else ():
                    found.setdefault(label, {})[piece] = None
            if budget[0] < 0:
                over.append(label)
        return {label: tuple(sorted(pieces)) for label, pieces in found.items()}, tuple(over)


def _found_in(text: str, index: dict[str, set[str]], budget: list[int]) -> Iterator[str]:
    for start in range(len(text) - MIN_CHARS + 1):
        bucket = index.get(text[start : start + MIN_CHARS])
        if bucket:
            budget[0] -= len(bucket)
            if budget[0] < 0:
                return  # the caller counts the label as saturated for this call
            for piece in bucket:
                if text.startswith(piece, start):
                    yield piece


# A word as ``afterText`` counts what the agent read, erring towards more. The text is folded
# (NFKD, accents dropped: full-width, styled and circled letters as plain ones; tag characters
# and the letters no folding maps as the ASCII they stand for: session_state.AS_ASCII). A run
# of letters and digits is a word; a capital after a small letter starts another
# ("PickupViaMarco" is three); anything else separates, invisible characters too (a reader sees
# "pay\u200bGreg" as two words). An unbroken run counts a word every LETTERS_WORD letters when
# it has letters only ("#okaforpickuptoday" is 2), every ENCODED_WORD characters when it mixes
# in digits (hex or base64 the agent can decode; a git hash is 4, a UUID's parts 1 each), and
# every two letters in a script written without spaces (category Lo: Chinese, Japanese, Thai).
# Every symbol (emoji, arrows, enclosed signs: category S) counts a word of its own, and so
# does a token of two or more signs (Morse's "-.."). A run mixing letters and digits counts at
# least its runs of two letters or more (words joined by digits).
_READ_WORD = re.compile(r"[^\W_]+")
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# a token of ASCII signs only, two or more ("-..", ".-.": Morse), counts a word (symbols count
# one each already)
_SIGNS = re.compile(r"(?<!\S)[!-/:-@\[-`{-~]{2,}(?!\S)")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_CAPITAL_AFTER_SMALL = re.compile(r"[a-z][A-Z]")
LETTERS_WORD = 6
ENCODED_WORD = 12


# A text this long counts as MAX_TEXT_WORDS whatever it holds (prose-sized for any purpose; and
# folding a long text that holds few words would cost the chokepoint time a page could choose).
LONG_TEXT = 16_384


def words_read(text: str) -> int:
    """How many words one text of a result holds, counted up to :data:`MAX_TEXT_WORDS`."""
    if len(text) > LONG_TEXT:
        return MAX_TEXT_WORDS
    if not text.isascii():
        folded = unicodedata.normalize("NFKD", text).translate(AS_ASCII)
        # accents off ("Zoë" is one word), as a reader takes them
        text = "".join(ch for ch in folded if unicodedata.category(ch) != "Mn")
    count = len(_SIGNS.findall(text)) + (0 if text.isascii() else _symbols(text))
    for found in _READ_WORD.finditer(text):
        count += _run_words(found.group())
        if count >= MAX_TEXT_WORDS:
            return MAX_TEXT_WORDS
    return min(count, MAX_TEXT_WORDS)


def _run_words(word: str) -> int:
    if word.isalpha():
        size = len(word) // LETTERS_WORD
    else:  # digits in it: encoded data, or words joined by digits ("today0pickup0via")
        size = max(len(word) // ENCODED_WORD, len(_LETTERS.findall(word)))
    if word.isascii():
        return max(1 + len(_CAPITAL_AFTER_SMALL.findall(word)), size)
    capitals = sum(a.islower() and b.isupper() for a, b in itertools.pairwise(word))
    scriptio = sum(unicodedata.category(ch) == "Lo" for ch in word) // 2
    return max(1 + capitals, size, scriptio)


def texts_read(text: str, data: Any = None) -> Iterator[str]:
    """The texts of a result ``afterText`` counts: :func:`result_strings`, and for a JSON
    result also each string as written between its quotes (escapes undecoded: a reader of the
    JSON sees ``due\\u0301to`` as two words, decoded it is one) and each array's or object's
    numbers as one text (bytes of a text, ``[68, 117, 101]``, are words to an agent that
    decodes them)."""
    data = parsed(text) if data is None else data
    yield from result_strings(text, data)
    if data is NOT_JSON:
        return
    for literal in _JSON_STRING.finditer(text):
        if "\\" in literal.group():
            yield literal.group()[1:-1]
    stack = [data]
    while stack:
        value = stack.pop()
        if not isinstance(value, list):
            continue
        items = [item for _, item in value] if isinstance(value, _Pairs) else value
        numbers = [str(v) for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers:
            yield " ".join(numbers)
        stack.extend(v for v in items if isinstance(v, list))


def _symbols(text: str) -> int:
    return sum(unicodedata.category(ch)[0] == "S" for ch in text if not ch.isascii())


def result_strings(text: str, data: Any = None) -> Iterator[str]:
    """A result as its reader sees it, for runs of words: a JSON result's strings (keys and
    values, at any depth, escapes decoded: a line break written ``\\n`` in the JSON separates
    words as the reader sees it), else the text itself."""
    data = parsed(text) if data is None else data
    if data is NOT_JSON:
        yield text
        return
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, _Pairs):
            for key, item in reversed(value):
                stack.extend((item, key))
        elif isinstance(value, list):
            stack.extend(reversed(value))


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, none dropped."""


NOT_JSON = object()  # what parsed() gives for a text that is not a JSON document


def parsed(text: str) -> Any:
    """A result's JSON with every key and value as written (a key given twice is read twice by
    the agent; json.loads would keep only its last value), or :data:`NOT_JSON`. The walks of
    one result (its pieces, runs of words, texts) take it from one call of this."""
    if text.lstrip()[:1] not in ("{", "[", '"'):
        return NOT_JSON
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return NOT_JSON


def argument_strings(value: Any, depth: int = 0) -> Iterator[str]:
    """The strings of a call's arguments, numbers as their text (``12.5``), at any depth up to
    64; booleans and nulls are none."""
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
            yield from argument_strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from argument_strings(item, depth + 1)
