"""Session state the engine may read: named session lists, counters, sums and provenance hits.

The engine stays a pure function: the chokepoint passes a :class:`SessionState` in
(``EvalContext.session``), the engine reads it in the conditions below, and what a call would
change comes back as data (:func:`updates_for`), which the chokepoint applies only once the call
is allowed or approved (:func:`apply_updates`). The state the engine saw is written to the audit
with each decision, so ``policy replay`` decides the same call the same way.

Names:

- ``task:NAME`` lists hold values the user typed in their own request (``policy.task_grants``);
  no rule can extend them.
- ``session:NAME`` lists start empty and grow through a rule's ``session.extend`` when a call
  the rule applies to goes ahead (an invited member is a member for the next call).
- counters (``session.count``) and sums (``session.add``) grow the same way; a ``session``
  condition compares them (a sum with ``roles`` first adds this call's values: the total the
  call would make).
- ``tainted``: per label (``untrusted``, ``secret``), the remembered strings of labelled tool
  results that occur in this call's arguments (found by the chokepoint, so the state written to
  the audit is small and exact); ``saturated``: labels whose memory overflowed, whose
  provenance conditions then hold for every value (fail closed).
- ``copied``: per label, the runs of at least :data:`COPY_WORDS` words of this call's arguments
  that a labelled result also wrote, word for word, each as ``LENGTH:DIGEST``
  (:func:`run_digest`; a provenance condition with ``words``); ``LABEL/words`` in ``saturated``:
  that label's runs overflowed.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policy.role_specs import extract_numbers

__all__ = [
    "COPY_WORDS",
    "REQUEST_WORDS",
    "RUNS_SATURATED",
    "SECRET_MARK",
    "SESSION_LIST_PREFIXES",
    "AskEntry",
    "ListExtension",
    "ProvenanceCondition",
    "SessionCondition",
    "SessionState",
    "SessionUpdate",
    "StateUpdate",
    "SumUpdate",
    "apply_updates",
    "copied_in",
    "copied_run",
    "is_session_list",
    "phrase_form",
    "phrase_words",
    "request_words",
    "run_digest",
    "scoped_list",
    "session_condition_holds",
    "tainted_by",
    "telling",
    "text_words",
]

SESSION_LIST_PREFIXES = ("task:", "session:")
_Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
_Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=64)]
# A session list by name, as ``@…`` names it in a rule (without the ``@``): ``task:amounts``.
_ListName = Annotated[
    str, Field(pattern=r"^(task|session):[a-z][a-z0-9]*([-_.][a-z0-9]+)*$", max_length=100)
]
Label = Literal["untrusted", "secret"]
# A session list may not grow past this: an agent looping on approved invitations must not
# make every later check slower without bound.
MAX_LIST_VALUES = 1000
# How the audit writes a provenance hit from a secret result (the piece itself is the secret).
SECRET_MARK = "[secret piece]"  # noqa: S105 - a placeholder shown instead of a secret, not one
# Provenance pieces this long match inside a value; shorter ones (3 to 5 characters: flight
# numbers, short ids) only as the whole value, so "bob" in a message does not taint "bobby".
MIN_PIECE_CHARS = 6
# The shortest run of words a result wrote that counts as copied from it (a provenance
# condition's ``words`` is at least this); runs are kept and found as runs of this many.
COPY_WORDS = 3
# The largest ``afterText`` (words in one text of a result): how much of a result's longest
# text the session keeps count of.
MAX_TEXT_WORDS = 64
_WORD = re.compile(r"[^\W_]+")
# Cyrillic and Greek letters that look like Latin ones, read as those once case is folded (a
# sign-off planted in "Арргоvеd" is copied as "Approved"; "ԜIRE ТНЕ FUNDS" as "wire the
# funds"): both sides of a comparison are read so, so text in those scripts still matches itself.
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕгпкмнтвԁһӏԛԝүɡαοριυνκχτϳϲ",
    "aeopcyxijsrnkmhtbdhlqwygaopiuvkxtjc",
)
# Letters that show as blank (the Hangul fillers): removed like the invisible marks.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
# Control characters that are not white space (NUL, backspace, escape, DEL, the C1 controls):
# no reader sees them, so they are removed as well (white space ones still separate words).
_CONTROLS: dict[int, int | None] = dict.fromkeys(
    c for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace()
)
# Letters a reader (a model) reads as ASCII that no compatibility folding maps: the tag
# characters (U+E0020-E007E mirror ASCII, invisible on screen: "ASCII smuggling"), and the
# negative circled, negative squared and regional-indicator capitals (U+1F150, U+1F170,
# U+1F1E6: A to Z each). Read as the letters they stand for, before anything is removed.
AS_ASCII: dict[int, int] = {
    **{0xE0000 + c: c for c in range(0x20, 0x7F)},
    **{base + i: ord("a") + i for base in (0x1F150, 0x1F170, 0x1F1E6) for i in range(26)},
}
_CONTROLS.update(AS_ASCII)
# The words :func:`copied_run` may hash for one value (each window of a run's length at each
# position: a long run searched in a long text would cost their product); past it, the value
# counts as copying, as when the label's runs overflowed.
MAX_COPY_WORK = 2_000_000
# Appended to a label in ``saturated``: its runs of words overflowed (not its pieces).
RUNS_SATURATED = "/words"
SHORT_PIECE_CHARS = 3


def is_session_list(name: str) -> bool:
    """``task:…`` and ``session:…`` lists come from the session, not ``dynamic-lists.json``."""
    return name.startswith(SESSION_LIST_PREFIXES)


# A bound is a finite number: NaN meets no comparison and an infinite one bounds nothing (a
# cap written 'gte: NaN' would never bite, and the lint would count it as a cap).
Bound = Annotated[float, Field(allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        defer_build=True, frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )


class SessionCondition(_Frozen):
    """``{"sum": "spend", "roles": ["amount"], "gt": 1000}`` or ``{"count": "sends", "gte": 20}``:
    holds when the counter (calls so far) or the sum (so far, plus this call's values of
    ``roles``) is within every bound given. A value of ``roles`` that is not a finite number
    makes the sum unknown, and an unknown sum meets no bound (nor does a numbers condition: such
    a value is denied unless a rule allows it whatever it is).

    ``{"size": "task:amounts", "gte": 1}``: how many values a ``task:`` or ``session:`` list
    holds as the rule reads it (a rule with ``task.asks``, or a tool with ``askedBy``: the
    instructions' share), so a rule can say "the user typed an amount for this" and refuse any
    other amount instead of asking about it."""

    count: _Name | None = None
    sum: _Name | None = None
    size: _ListName | None = None
    # With ``count``: holds once the count has reached the number of objects the request's
    # instructions asking for the tool name (``task:objects``: "approve both" 2, "merge 412
    # and 424" 2, "approve Tom's charger" 1; never, for "all", "every", a plural): a cap of
    # what was asked instead of a cap of one that "both" lifts altogether.
    reaches: Literal["asked"] | None = None
    roles: tuple[_Role, ...] = ()
    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None

    @model_validator(mode="after")
    def _shape(self) -> SessionCondition:
        if sum(x is not None for x in (self.count, self.sum, self.size)) != 1:
            raise ValueError("a session condition needs exactly one of 'count', 'sum' or 'size'")
        if self.sum is None and self.roles:
            raise ValueError("'roles' adds this call's values to a sum; a count or a size has none")
        if self.reaches is not None and self.count is None:
            raise ValueError("'reaches' compares a count with what was asked: it needs 'count'")
        bounds = (self.gt, self.gte, self.lt, self.lte, self.reaches)
        if all(bound is None for bound in bounds):
            raise ValueError("a session condition needs at least one of gt, gte, lt, lte, reaches")
        return self


_Word = Annotated[str, Field(pattern=r"^[^\s*?\[\]]+\*?$", max_length=64)]
TASK_WORDS = "task:identifiers"  # the words of the user's request (policy.task_grants)
# The whole request's words while a tool with askedBy is judged (TASK_WORDS is then the share
# of the instructions asking for it): set by session_policy.for_tool, never audited.
REQUEST_WORDS = "task:identifiers/request"


AskEntry = Annotated[
    str, Field(pattern=r"^[^\s*?\[\]]+\*?( [^\s*?\[\]]+\*?){0,2}$", max_length=100)
]


class TaskCondition(_Frozen):
    """What the user asked for, by the words of their request: ``{"mentions": ["share*",
    "give"]}`` holds when the task's words (``task:identifiers``: as typed, negated clauses left
    out) hold one of these, compared case-insensitively (a trailing ``*``: any word starting so);
    ``{"mentionsNone": [...]}`` when they hold none of them. So a side effect can be allowed, or
    refused, by whether the user asked for that kind of action ("share", "buy", "delete") in
    this task. No session, no words: ``mentions`` never holds, ``mentionsNone`` always does.

    ``{"asks": ["delete album", "remove album"]}`` is stricter: it holds when one of the
    request's *instructions* (``policy.task_grants.instructions``: an imperative piece, its
    verb first) has that verb and, when a second word is given, that word in its object ("delete
    the birthday album", not "delete the photo from the album"); ``asksNone`` when none has.
    In a rule with ``asks``, ``@task:…`` lists hold only the values typed in the instructions
    it accepts (``scoped_list``)."""

    mentions: tuple[_Word, ...] | None = Field(default=None, min_length=1)
    mentions_none: tuple[_Word, ...] | None = Field(
        default=None, alias="mentionsNone", min_length=1
    )
    asks: tuple[AskEntry, ...] | None = Field(default=None, min_length=1)
    asks_none: tuple[AskEntry, ...] | None = Field(default=None, alias="asksNone", min_length=1)

    @model_validator(mode="after")
    def _one(self) -> TaskCondition:
        given = [self.mentions, self.mentions_none, self.asks, self.asks_none]
        if sum(g is not None for g in given) != 1:
            raise ValueError(
                "a task condition needs exactly one of 'mentions', 'mentionsNone', 'asks' "
                "or 'asksNone'"
            )
        return self

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The ``asks`` entries that scope the rule's ``@task:`` lists, or None."""
        return self.asks


def task_condition_holds(condition: TaskCondition, state: SessionState | None) -> bool:
    from policy.task_grants import ASKED, asked_in

    if condition.asks is not None or condition.asks_none is not None:
        wanted = condition.asks if condition.asks is not None else condition.asks_none
        found = asked_in(wanted or (), state.lists.get(ASKED, ()) if state else ())
        return found if condition.asks is not None else not found
    words = {w.casefold() for w in (state.lists.get(TASK_WORDS, ()) if state else ())}
    wanted = condition.mentions if condition.mentions is not None else condition.mentions_none
    found = any(_word_in(pattern.casefold(), words) for pattern in wanted or ())
    return found if condition.mentions is not None else not found


def scoped_list(name: str, asks: tuple[str, ...]) -> str:
    """The name under which a ``task:`` list's values for one ``asks`` condition are kept:
    ``task:identifiers/asks:assign|give``."""
    return f"{name}/asks:{'|'.join(asks)}"


def _word_in(pattern: str, words: set[str]) -> bool:
    if pattern.endswith("*"):
        stem = pattern[:-1]
        return any(word.startswith(stem) for word in words)
    return pattern in words


class ProvenanceCondition(_Frozen):
    """``{"roles": ["recipient"], "from": "untrusted"}``: the judged value has one of ``roles``
    and contains a string remembered from a result with that label (exact substring)."""

    roles: tuple[_Role, ...] = Field(min_length=1)
    from_: Label = Field(alias="from")
    # Set: the value holds a run of at least this many words, in order, that such a result
    # wrote and that is not the user's own (two telling words of the run the request does not
    # have: :func:`telling`). For a message's text, opaque to every other rule: it repeats
    # what a listing's author wrote.
    words: int | None = Field(default=None, ge=COPY_WORDS, le=12)
    # Set: the session has read, in a result with that label, a text of at least this many
    # words (one string of it: a JSON result's strings one by one), and the value has a word
    # in it. For a message's text written once such a text was in the agent's context: a
    # paraphrase of an instruction in it copies no run of words, and no rule can read meaning.
    after_text: int | None = Field(
        default=None, ge=1, le=MAX_TEXT_WORDS, alias="afterText", exclude_if=lambda v: v is None
    )

    @model_validator(mode="after")
    def _one_test(self) -> ProvenanceCondition:
        if self.words is not None and self.after_text is not None:
            raise ValueError("a provenance condition takes 'words' or 'afterText', not both")
        return self

    @property
    def on_text(self) -> bool:
        """It judges a text's origin (``words``, ``afterText``), not a value's pieces: a copy
        rule, which never stands in for the rule that would allow the call."""
        return self.words is not None or self.after_text is not None


class ListExtension(_Frozen):
    list: Annotated[str, Field(pattern=r"^session:[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    roles: tuple[_Role, ...] = Field(min_length=1)


class SumUpdate(_Frozen):
    sum: _Name
    roles: tuple[_Role, ...] = Field(min_length=1)


class SessionUpdate(_Frozen):
    """A rule's ``session`` field: what the session records when a call the rule applies to
    (its ``server``, ``tool`` and ``sideEffects`` conditions hold) is allowed or approved."""

    extend: tuple[ListExtension, ...] = ()
    count: tuple[_Name, ...] = ()
    add: tuple[SumUpdate, ...] = ()


class SessionState(_Frozen):
    lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    sums: dict[str, float] = Field(default_factory=dict)
    tainted: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    copied: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    saturated: tuple[str, ...] = ()
    # per label, the most words one text of such a result had (at most MAX_TEXT_WORDS): what
    # the agent has read, for ``afterText``
    read: dict[str, int] = Field(default_factory=dict)

    def audit_form(self) -> dict[str, object]:
        """The JSON the audit keeps (and ``policy replay`` reads back), empty parts left out."""
        return self.model_dump(mode="json", exclude_defaults=True)


class StateUpdate(_Frozen):
    """What a call changes if it goes ahead: values to add to lists, counter and sum steps."""

    extend: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    count: dict[str, int] = Field(default_factory=dict)
    add: dict[str, float] = Field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.extend or self.count or self.add)

    def audit_form(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_defaults=True)


def apply_updates(state: SessionState, update: StateUpdate) -> SessionState:
    """The state after a call that went ahead (a new object; the old one is unchanged)."""
    if update.empty:
        return state
    lists = dict(state.lists)
    for name, values in update.extend.items():
        merged = tuple(dict.fromkeys((*lists.get(name, ()), *values)))
        lists[name] = merged[:MAX_LIST_VALUES]
    counters = dict(state.counters)
    for name, step in update.count.items():
        counters[name] = counters.get(name, 0) + step
    sums = dict(state.sums)
    for name, amount in update.add.items():
        sums[name] = sums.get(name, 0.0) + amount
    return state.model_copy(update={"lists": lists, "counters": counters, "sums": sums})


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def call_total(values: Iterable[tuple[str, str | None]], roles: Iterable[str]) -> float | None:
    """The sum of the call's values of ``roles``; None when one of them is not a number.

    A negative value counts as 0: a running total of spending must not be lowered by an agent
    sending ``-5000`` (a refund is not this session's to count)."""
    wanted, total = set(roles), 0.0
    for role, value in values:
        if role in wanted:
            number = _number(value)
            if number is None:
                return None
            total += max(number, 0.0)
    return total


def session_condition_holds(
    condition: SessionCondition,
    state: SessionState | None,
    values: Iterable[tuple[str, str | None]],
    scope: tuple[str, ...] | None = None,
) -> bool:
    state = state or SessionState()
    if condition.size is not None:
        from policy.rules import scoped_name

        return within_bounds(
            float(len(state.lists.get(scoped_name(condition.size, scope), ()))), condition
        )
    if condition.count is not None:
        measured: float | None = float(state.counters.get(condition.count, 0))
        if condition.reaches is not None:
            asked = (state.lists.get(OBJECTS) or ("1",))[-1]
            if asked == ALL_OBJECTS or measured < int(asked):
                return False
    else:
        added = call_total(values, condition.roles) if condition.roles else 0.0
        so_far = state.sums.get(condition.sum or "", 0.0)
        measured = None if added is None else so_far + added
    if measured is None:
        # Unknown (a value that is not a number) meets no bound, as a numbers condition: the
        # value falls through to the rules after, and no numbers rule allows it. (Holding here
        # would turn its default deny into an "escalate above the threshold".)
        return False
    return within_bounds(measured, condition)


# How many objects the instructions asking for a tool name (policy.task_grants.objects_asked):
# one value, a count ("2") or ALL_OBJECTS; a tool with askedBy reads its instructions' share.
OBJECTS = "task:objects"
# Each bound record's alsoGrants values, as "id<TAB>value" (a list condition's ofRecord)
RECORD_FIELDS = "task:record-fields"
RECORD_SEPARATOR = "\t"
ALL_OBJECTS = "all"


class _Bounds(Protocol):
    """What a ``numbers`` or ``session`` condition bounds a number by."""

    @property
    def gt(self) -> float | None: ...
    @property
    def gte(self) -> float | None: ...
    @property
    def lt(self) -> float | None: ...
    @property
    def lte(self) -> float | None: ...


def within_bounds(number: float, bounds: _Bounds) -> bool:
    """``number`` meets every bound given (``gt``, ``gte``, ``lt``, ``lte``; None is no
    bound): the one comparison of the ``numbers`` and ``session`` conditions."""
    return (
        (bounds.gt is None or number > bounds.gt)
        and (bounds.gte is None or number >= bounds.gte)
        and (bounds.lt is None or number < bounds.lt)
        and (bounds.lte is None or number <= bounds.lte)
    )


# A phrase (provenance's runs of words, found only as a whole value) is read as copies are:
# :func:`text_words` (accents, invisible characters and lookalikes folded; "Mum's" is "mum s"),
# a modifier-letter apostrophe read as one.
_APOSTROPHES = str.maketrans({"\u02bc": "'", "\u2019": "'", "\u2018": "'", "\uff07": "'"})


def phrase_words(text: str) -> list[str]:
    return text_words(text.translate(_APOSTROPHES))


def phrase_form(text: str) -> str:
    """A value as a phrase is kept: its words, joined by one space."""
    return " ".join(phrase_words(text))


def tainted_by(value: str | None, label: str, state: SessionState | None) -> bool:
    """Whether ``value`` contains a piece remembered from a ``label`` result, compared
    case-folded (pieces are kept folded); a short piece (an id like ``ZZ999``) must be the
    whole value. When the memory for the label overflowed, every value counts as tainted."""
    if state is None or value is None:
        return False
    if label in state.saturated:
        return True
    hits = state.tainted.get(label, ())
    if not hits:
        return False
    folded = value.casefold()
    # and its phone numbers and IBANs as the memory searched them (ProvenanceMemory.hits):
    # an account copied from a result and re-spaced or dashed ("DE12 5001 …") still carries it
    numbers = " ".join(number_forms(value)).casefold()
    phrase = phrase_form(value) if any(" " in hit for hit in hits) else ""
    return any(
        hit == phrase
        if " " in hit  # a phrase: the whole value, as ProvenanceMemory.search found it
        else (hit in folded or hit in numbers)
        if len(hit) >= MIN_PIECE_CHARS
        else hit == folded.strip()
        for hit in hits
    )


def number_forms(text: str) -> list[str]:
    """The phone numbers and IBANs in ``text`` in the canonical forms ``text-phones`` and
    ``text-ibans`` values take (``+447700900183``); for a phone number also its last 7 digits,
    so the same number written the national way ("07700 900183") is still found; for an IBAN
    also the account after its country and check digits, found however it is regrouped."""
    phones, ibans = extract_numbers(text)
    forms: list[str] = []
    for phone in phones:
        forms.append(phone)
        if len(phone.lstrip("+")) >= 9:
            forms.append(phone[-7:])
    for iban in ibans:
        forms += [iban.casefold(), iban[4:].casefold()]
    return forms


def text_words(text: str) -> list[str]:
    """The words of ``text`` as copies are compared: runs of letters and digits (an underscore
    or a hyphen separates), compatibility-folded (full-width and styled letters as plain ones),
    accents dropped and case-folded, with every character no reader sees removed (format
    characters such as zero-width spaces, joiners, soft hyphens and direction marks; variation
    selectors and other non-spacing marks; the Hangul fillers; control characters that are not
    white space, such as NUL and DEL): neither punctuation, spacing,
    line breaks and accents nor an invisible character hide a run."""
    plain = unicodedata.normalize("NFKD", text).translate(_CONTROLS)
    if plain.isascii():
        return _WORD.findall(plain.casefold())
    plain = "".join(ch for ch in plain if not _invisible(ch))
    return _WORD.findall(plain.casefold().translate(_LOOKALIKES))  # capitals folded first


def _invisible(ch: str) -> bool:
    return ch in _FILLERS or unicodedata.category(ch) in ("Cf", "Mn", "Me")


def run_digest(words: Sequence[str]) -> str:
    """How a copied run is recorded (in the state, so in the audit): its length and a digest of
    its words, not the words (they are the argument's, which the audit redacts by pattern, and
    a secret result's)."""
    digest = hashlib.blake2b(" ".join(words).encode(), digest_size=8).hexdigest()
    return f"{len(words)}:{digest}"


def telling(words: Iterable[str], mine: Iterable[str] = ()) -> int:
    """How many words of a run say something the user did not: words of at least four letters
    or digits not among ``mine`` (the request's words). "let me know if", which any long page
    shares with any message, has one ("know"); "medical appointment and recovery" and "iban and
    sort code" have three. A run counts as copied with two or more."""
    kept = set(mine)
    return len({word for word in words if len(word) >= 4 and word not in kept})


def copied_run(
    value: str | None, label: str, state: SessionState | None, words: int, typed: Iterable[str]
) -> int:
    """The length of the longest run of at least ``words`` words in ``value`` that a ``label``
    result wrote (``state.copied``, found by the chokepoint) with two telling words the user's
    request (``typed``) does not have; 0 when there is none; -1 when the label's runs
    overflowed, or searching them here would take more than :data:`MAX_COPY_WORK` (every
    value counts: fail closed)."""
    if state is None or value is None:
        return 0
    if f"{label}{RUNS_SATURATED}" in state.saturated:
        return -1
    lengths: dict[int, set[str]] = {}
    for entry in state.copied.get(label, ()):
        size, _, _ = entry.partition(":")
        if size.isdigit() and int(size) >= words:
            lengths.setdefault(int(size), set()).add(entry)
    if not lengths:
        return 0
    have = text_words(value)
    mine = {word for text in typed for word in text_words(text)}
    work = 0
    for size in sorted(lengths, reverse=True):
        wanted = lengths[size]
        for start in range(len(have) - size + 1):
            work += size
            if work > MAX_COPY_WORK:
                return -1  # a long run searched at every position of a long text: fail closed
            window = have[start : start + size]
            if run_digest(window) in wanted and telling(window, mine) >= 2:
                return size
    return 0


def request_words(state: SessionState | None) -> tuple[str, ...]:
    """The words of the user's whole request, which a copied run must go beyond: while a tool
    with askedBy is judged, ``TASK_WORDS`` is only its instructions' share."""
    lists = state.lists if state is not None else {}
    return lists.get(REQUEST_WORDS) or lists.get(TASK_WORDS, ())


def written_after(value: str | None, label: str, state: SessionState | None, words: int) -> bool:
    """Whether ``value`` is not blank and the session has read a text of at least ``words``
    words in a ``label`` result (``afterText``). A label whose memory overflowed, or that a
    resumed session read before (``saturated``), counts as read: fail closed. Anything but white
    space is judged (letters no folding reads, symbols and emoji carry meaning too)."""
    if state is None or value is None or not value.strip():
        return False
    saturated = label in state.saturated or f"{label}{RUNS_SATURATED}" in state.saturated
    return saturated or state.read.get(label, 0) >= words


def copied_in(
    value: str | None, label: str, state: SessionState | None, words: int, typed: Iterable[str]
) -> bool:
    """Whether :func:`copied_run` finds a run (or the label's runs overflowed)."""
    return copied_run(value, label, state, words, typed) != 0


def updates_from(
    rules: Iterable[SessionUpdate], values: Iterable[tuple[str, str | None]]
) -> StateUpdate:
    """The update the rules' ``session`` fields make from this call's role values."""
    pairs = list(values)
    extend: dict[str, list[str]] = {}
    count: dict[str, int] = {}
    add: dict[str, float] = {}
    for update in rules:
        for ext in update.extend:
            found = [v for r, v in pairs if r in ext.roles and v]
            extend.setdefault(ext.list, []).extend(found)
        for name in update.count:
            count[name] = count.get(name, 0) + 1
        for item in update.add:
            if not any(r in item.roles for r, _ in pairs):
                continue  # the call has no such value (another tool the rule applies to)
            total = call_total(pairs, item.roles)
            # A value that is not a number cannot be summed (the engine denies it under any
            # numbers rule, and a session sum condition never holds for it): it adds nothing.
            if total is not None:
                add[item.sum] = add.get(item.sum, 0.0) + total
    return StateUpdate(
        extend={k: tuple(dict.fromkeys(v)) for k, v in extend.items() if v},
        count=count,
        add=add,
    )


def lists_of(state: SessionState | None) -> Mapping[str, tuple[str, ...]]:
    return {} if state is None else state.lists
