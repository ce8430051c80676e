"""Objects bound to the user's request through a listing: ``records`` on a listing tool.

Users name their objects by what they are ("share my grocery list", "merge my login fix"), not
by id, so task grants (the values the user typed) cannot hold the id the agent then acts on,
and a rule that allows any id lets an injected "share n-9 instead" through. A listing tool's
annotation may declare the shape of its result's records:

```json
"records": {"grants": "task:notes", "id": "id", "describedBy": ["title"],
            "ownedBy": {"field": "owner", "in": ["me"]}}
```

When such a tool's result comes back, the records whose description matches the user's request
best have their ids added to the ``task:`` list named by ``grants``, and a rule can then allow
only those (``"allowed": ["@task:notes"]``) and refuse the rest. Deterministic, and the agent
cannot widen it:

- the result must be JSON (its structured content, or its text parsed as JSON) made by the
  server, so a record's boundaries and its id are the server's: text inside a field cannot
  forge another record, as it could in a text listing ("x | n-9 Grocery list");
- a record is described by its ``describedBy`` fields only; its score is how many of the
  request's words (``task:identifiers``: negated clauses and questions left out; three letters
  or more, not one of a few function words, not a word of the tool's name — ``list_photos``
  lists photos, so "photo" tells none apart; case-insensitive) are words of that description,
  ranked first by the words of the instructions' objects and last by their possessors (see
  :func:`bind_records`). The records with the best score (at least one word) are bound, all of
  them on a tie, except tied records described by the very same words (lookalikes: neither is
  bound), and except when a record ranked lower meets the same words of the instruction's
  object as the best (only the rest of the request ranks them, and someone can write that into
  their own record: none is bound unless the request speaks of several);
- with ``ownedBy``, only records whose field holds one of the values (``@list`` names a dynamic
  list) take part: an object someone else made, whose description they wrote, is never bound
  (a pull request titled like the user's words, a note shared with the user), however well it
  matches;
- a bound record that only meets *more* of the object's words than a record of another owner
  (or of any, when the listing declares no ``ownedBy``) is bound but *contested*: the human
  confirms it before a side effect uses it, whatever the listing's ``confirm`` says. Whoever
  makes a record can name it in more of the user's words than the record the user meant
  ("ci-runner (old CI runner config, snapshot taken)" beside "ci-runner-old" for "take a
  snapshot of the old CI runner"); two records of one owner are told apart by the words;
- a record whose id appears twice in one result, with different descriptions, is not bound;
- a record described by a word of a negated clause that the rest of the request does not use
  ("shut down the staging boxes, except staging-db") is not bound.

What it cannot catch: a request that names no word of the object's description (bind nothing:
the rule's next line decides, a question or a refusal); an object of the *same* owner as the one
meant, described in more of the user's words (a colleague's second, inflated claim when the
user approves "Aisha's train ticket"): the words choose it; a listing the agent narrowed
(a search whose query leaves the meant record out): the records it does not return rival none;
and, with ``mine``, a record a team member names exactly as the user typed a name of several
parts ("staging-db") when the one meant is called something else ("staging-database"): the
typed name chooses it, and the meant one, not holding that name, is no rival.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policy.task_grants import (
    ASKED,
    ASKED_IF,
    CONFIRMED,
    DESCRIBED,
    EXCLUDED,
    GRANT_LISTS,
    MONTH_NUMBERS,
    UNCONFIRMED,
)

__all__ = [
    "MAX_RESULT_CHARS",
    "Binding",
    "OwnedBy",
    "RecordsSpec",
    "bind_records",
    "content_words",
    "descriptions",
    "listing_kind",
    "listing_nouns",
    "owner_values",
    "records_listed",
    "result_json",
    "score_of_count",
]

MAX_RESULT_CHARS = 4 * 1024 * 1024  # a longer text result is not parsed for records
MAX_RECORDS = 10_000
_Field = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")]
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
# Words too common to tell one object from another.
_FUNCTION_WORDS = frozenset((
    "the", "and", "for", "with", "from", "into", "onto", "that", "this", "these", "those",
    "then", "than", "them", "they", "their", "there", "you", "your", "yours", "our", "ours",
    "his", "her", "hers", "its", "are", "was", "were", "been", "have", "has", "had", "will",
    "would", "can", "could", "should", "please", "about", "all", "any", "some", "one", "two",
    "also", "just", "only", "very", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "not", "but", "nor", "yet",
))  # fmt: skip


_TASK_LIST = re.compile(r"^task:[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(
        defer_build=True, frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )


class OwnedBy(_Frozen):
    field: _Field
    in_: tuple[str, ...] = Field(alias="in", min_length=1)
    # Of ``in``, the owners that are the user (``["@me"]``; ``[]``: none is): only two records
    # of one of them are told apart by the words alone (see _outscored); unset, two records of
    # any one owner are.
    mine: tuple[str, ...] | None = Field(default=None, exclude_if=lambda value: value is None)

    @model_validator(mode="after")
    def _mine_admitted(self) -> OwnedBy:
        extra = [m for m in self.mine or () if m not in self.in_]
        if extra:
            raise ValueError(f"mine names owners that 'in' does not admit: {extra}")
        return self


class RecordsSpec(_Frozen):
    """A listing tool's result shape (``records`` in its annotation)."""

    grants: Annotated[str, Field(pattern=_TASK_LIST.pattern)]
    id: _Field
    described_by: tuple[_Field, ...] = Field(alias="describedBy", min_length=1)
    # where the records are, when the result is an object ("items", "data.notes"); unset: the
    # result itself is the array of records
    at: _Field | None = None
    owned_by: OwnedBy | None = Field(default=None, alias="ownedBy")
    # describedBy fields whose text someone other than the user writes (a leave reason, a
    # student's preferred name, a colleague's expense description): they rank only records the
    # other fields tie on, so an insider who writes the user's words there does not outrank the
    # record the user meant.
    written_by_others: tuple[_Field, ...] = Field(
        default=(), alias="writtenByOthers", exclude_if=lambda value: not value
    )
    # Bound records the human confirms before a side effect uses them: "contested" when the
    # request's words also fit another record of the listing (an insider's record written in
    # the user's words), "unvouched" also when nothing but its own words vouches for it (not the
    # user's own, its maker not named by the request: someone else named it in the user's
    # words, and the record meant may hold none of them), "always" for every record bound by
    # description.
    confirm: Literal["contested", "unvouched", "always"] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )

    # Fields of a bound record whose values are granted to the task with it, each to a task:
    # list of its own ({"email": "task:contact-emails"}): the address on file of the person
    # the request described, the account of the payee it named. Bound, contested and confirmed
    # with the record (a value waits for the human's confirmation while its record does).
    also_grants: dict[_Field, str] = Field(
        default_factory=dict, alias="alsoGrants", exclude_if=lambda value: not value
    )
    # The listing's arguments that keep every record in its result (a sort order, a choice of
    # fields); any other argument given narrows it (a filter, a search, a page, a limit), and
    # what a narrowed listing binds nothing vouches for is confirmed (see ``narrowing``).
    keeps_all: tuple[_Field, ...] = Field(
        default=(), alias="keepsAll", exclude_if=lambda value: not value
    )

    @model_validator(mode="after")
    def _others_described(self) -> RecordsSpec:
        extra = [f for f in self.written_by_others if f not in self.described_by]
        if extra:
            raise ValueError(f"writtenByOthers names fields that are not describedBy: {extra}")
        return self

    @model_validator(mode="after")
    def _granted_lists(self) -> RecordsSpec:
        names = list(self.also_grants.values())
        for name in names:
            if not _TASK_LIST.fullmatch(name):
                raise ValueError(f"alsoGrants list {name!r} is not a task:NAME list")
            if name == self.grants or names.count(name) > 1:
                raise ValueError(f"alsoGrants list {name!r} is given twice (each needs its own)")
            self._own_list(name)
        return self

    @field_validator("grants")
    @classmethod
    def _own_list(cls, value: str) -> str:
        reserved = (ASKED, ASKED_IF, DESCRIBED, EXCLUDED, UNCONFIRMED, CONFIRMED)
        if value in GRANT_LISTS or value in reserved:
            raise ValueError(
                f"{value} holds what the user typed; bound records need a list of their own"
            )
        return value


def result_json(text: str, structured: Any = None) -> Iterator[Any]:
    """The result's JSON forms, in order: its structured content, and its text when that is
    JSON (a server may return its records either way; both are the server's output). Lazy:
    the text is parsed only if the structured content held no records."""
    if structured is not None:
        yield structured
    stripped = text.strip()
    if stripped and stripped[0] in "[{" and len(stripped) <= MAX_RESULT_CHARS:
        with contextlib.suppress(ValueError, RecursionError):  # not JSON: no records
            yield json.loads(stripped)


def _get(record: Any, path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return None


def content_words(text: str) -> set[str]:
    """The words that can tell objects apart: three letters or more, not a function word,
    case-folded, reduced to a rough stem (a plural's ``s`` dropped: ``notes`` is ``note``,
    ``class`` stays; ``-ing``, ``-er``, ``-ed`` dropped from longer words: ``plumber`` and
    ``plumbing`` are ``plumb``). A word joined by ``-`` or ``'`` also counts by its parts
    (``readme-typo``: readme, typo; ``plumber's``: plumber)."""
    words = set()
    for match in _WORD.finditer(text):
        whole = match.group().casefold()
        for word in (whole, *re.split(r"[-']", whole)) if re.search(r"[-']", whole) else (whole,):
            if len(word) < 3 or word in _FUNCTION_WORDS:
                continue
            words.add(_stem(word))
    return words


# A day written as a date ("2026-10-01"), and two joined as a span ("2026-09-28 to 2026-10-02").
_ISO_DAY = r"(\d{4})-(\d{2})-\d{2}"
_ISO_SPAN = re.compile(rf"\b{_ISO_DAY}\s*(?:to|until|through|–|—|-)\s*{_ISO_DAY}\b")
_ISO_DAYS = re.compile(rf"\b{_ISO_DAY}\b")
_DATED_SPAN_MONTHS = 3  # a span over more months names only its first


def month_words(text: str) -> set[str]:
    """The names of the months a record's dates fall in ("2026-10-01": october, oct), a span's
    every month ("2026-09-28 to 2026-10-02": september and october; of a span over three
    months, its first only), so that "everything in October" describes it as "the Porto trip"
    describes a record that says Porto."""
    months: set[int] = set()
    for match in _ISO_SPAN.finditer(text):
        year, month, last = int(match[1]), int(match[2]), (int(match[3]), int(match[4]))
        spanned = []
        while (year, month) <= last and 1 <= month <= 12 and len(spanned) <= _DATED_SPAN_MONTHS:
            spanned.append(month)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        # a longer span is in the month it starts in only: a year's leave written to be "in
        # October", or to end in September, is not one of "the October (or September) leave
        # requests"
        months.update(spanned if len(spanned) <= _DATED_SPAN_MONTHS else spanned[:1])
    # the days no span holds (a span's own ends are counted above)
    alone = _ISO_SPAN.sub(" ", text)
    months |= {int(m) for _, m in _ISO_DAYS.findall(alone) if 1 <= int(m) <= 12}
    return content_words(" ".join(n for n, number in MONTH_NUMBERS.items() if number in months))


def _stem(word: str) -> str:
    if len(word) >= 5 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) >= 6:
        for suffix in ("ing", "er", "ed"):
            if word.endswith(suffix):
                return word[: -len(suffix)]
    return word


class Binding(NamedTuple):
    """What :func:`bind_records` found in one result."""

    ids: tuple[str, ...]  # the records bound
    best: int  # their score (0: none met a word of the request)
    rivals: tuple[str, ...]  # records not bound that the request's telling words also meet
    # Another owner's record (or any, with no owner declared) meets the request's telling
    # words too: the bound one may be a copy written in more of the user's words; the human
    # confirms it before it is used (:func:`_outscored`).
    contested: bool = False
    # every record of the result that took part (owner admitted): its words and owner, for a
    # later listing's contest (a narrower one that leaves this one out)
    seen: Mapping[str, tuple[frozenset[str], str | None]] = {}
    # records bound by an earlier listing (``earlier``) that this one's records contest: a
    # narrow search first bound an insider's copy, the full listing after shows the rival
    recontested: tuple[str, ...] = ()
    # bound records nothing but their description vouches for: not the user's own (``mine``)
    # and made by no one the request names (:func:`_vouched`); a listing that may have left
    # the record meant out (a narrowed one) has these confirmed
    unvouched: tuple[str, ...] = ()


_NONE = Binding((), 0, ())


def bind_records(
    spec: RecordsSpec,
    forms: Iterable[Any],
    task_words: Iterable[str],
    lists: Mapping[str, tuple[str, ...]],
    tool: str = "",
    excluded: Iterable[str] = (),
    object_words: Iterable[str] = (),
    owner_words: Iterable[str] = (),
    known: Mapping[str, tuple[frozenset[str], str | None]] | None = None,
    earlier: Iterable[str] = (),
) -> Binding:
    """The ids of the result's records that the request's words describe best (see above), and
    that best score (0 when none: a session compares it with the best it has listed before);
    ``forms`` are the result's JSON forms (:func:`result_json`), the first holding records
    read. Records are ranked by how many of the instructions' object words they meet
    (``object_words``), then how many of all the words, then how many possessors
    (``owner_words``): a record only the rest of the request describes ("His email is …"
    meets "Jenny Hart (old work email)") does not tie with the object ("the plumber's
    contact": "Kowalski & Sons plumbing"), and of two records the object meets alike ("noah
    fischer's peasants revolt analysis" meets student Noah Fischer and student "Emma Schulz
    (Peasants Revolt group)"), the possessor's is meant. The score is the three counts as one
    number (``object·10⁴ + all·10² + possessors``, each at most 99). Third, the rivals: the
    records not bound that the instructions' object words (or, without any, the request's
    words) also meet, for a listing whose bound records the human confirms when contested."""
    records = next(filter(None, (_records(spec, form) for form in forms)), None)
    if records is None:
        return _NONE
    # The words of the tool's name name the kind of object it lists ("photo" for list_photos):
    # they tell no record apart, so "the blurry photo" does not bind every photo of any album.
    kind = listing_kind(tool)
    task_words = tuple(task_words)
    wanted = content_words(" ".join(task_words)) - kind
    if not wanted:
        return _NONE
    excluded = tuple(excluded)
    ruled_out = content_words(" ".join(excluded)) - wanted
    owners = owner_values(spec.owned_by.in_, lists) if spec.owned_by is not None else None
    mine = None
    if spec.owned_by is not None and spec.owned_by.mine is not None:
        mine = owner_values(spec.owned_by.mine, lists)
    described: dict[str, set[str]] = {}
    trusted: dict[str, set[str]] = {}  # the words of fields the user's side writes
    makers: dict[str, set[str]] = {}  # the words of who made the record (its ownedBy value)
    ambiguous: set[str] = set()
    # The months a record's dates fall in: they describe it ("everything in October"), but a
    # record met only by its month is no rival of one the request names ("Kofi's leave for
    # 14-18 Sept" beside Greg's September holiday)
    dated: dict[str, set[str]] = {}
    owner_of: dict[str, str | None] = {}  # the ownedBy field's value (None: not declared)
    listed: list[str] = []  # every record's id, whoever owns it
    contenders: dict[str, tuple[frozenset[str], str | None]] = {}  # never bound, still rivals
    ruled: set[str] = set()  # the contenders the user's exclusion ruled out
    # With ``mine`` only (see _outscored): each record's description as written, case-folded,
    # and the joined names ("staging-db") it is described by that the request typed whole.
    texts: dict[str, str] = {}
    named_in: dict[str, frozenset[str]] = {}
    typed_text = " ".join(task_words).casefold()
    typed_names = {n for n in map(_name, task_words) if n}
    stretched: set[str] = set()  # a name field holds a typed name and more (_vouched)
    for record in records[:MAX_RECORDS]:
        if not isinstance(record, Mapping):
            continue
        ident = _scalar(_get(record, spec.id))
        if ident is None or not ident.strip():
            continue
        listed.append(ident)
        owner = _scalar(_get(record, spec.owned_by.field)) if spec.owned_by else None
        parts = [
            p for p in (_get(record, name) for name in spec.described_by) if isinstance(p, str)
        ]
        text = " ".join(parts)
        words = content_words(text)
        months = month_words(text) - words
        if mine is not None:
            texts[ident] = text.casefold()
            if typed := frozenset(n for n in map(_name, parts) if n and _occurs(n, typed_text)):
                named_in[ident] = typed
        excluded_here = bool((words | months) & ruled_out)  # "… but not the October one"
        if (owners is not None and owner not in owners) or excluded_here:
            # Never bound: an owner the listing does not admit (an outsider's suggested card,
            # a pull request of someone who is not a maintainer), or described by what the user
            # ruled out ("except staging-db"). Both still contest a binding their words meet:
            # the record the user meant may be one of them ("block Prize Notifications", the
            # outsider's card; a claim an insider reworded into the excluded words), and then
            # the one left bound is someone else's, chosen because the meant one dropped out.
            contenders[ident] = (frozenset(words), owner)
            if excluded_here:
                ruled.add(ident)
            continue
        if months:
            dated[ident] = months
            words = words | months
        if ident in described and described[ident] != words:
            ambiguous.add(ident)
        described[ident] = words
        owner_of[ident] = owner
        if spec.written_by_others:
            own = (_get(record, n) for n in spec.described_by if n not in spec.written_by_others)
            own_text = " ".join(p for p in own if isinstance(p, str))
            trusted[ident] = content_words(own_text) | month_words(own_text)
        # the maker's words, but those the record's own description uses (the owner field may
        # be one of its describedBy fields: "tom" of a submitter tom.becker@… is no word of
        # "Monitor arm"; "ops" of ops@… is one of "ops-scratch-box")
        maker_field = spec.owned_by.field if spec.owned_by else None
        written = (_get(record, n) for n in spec.described_by if n != maker_field)
        makers[ident] = _maker_words(owner) - content_words(
            " ".join(p for p in written if isinstance(p, str))
        )
        if typed_names and any(
            _occurs(t, n) and t != n for n in map(_name, parts) if n for t in typed_names
        ):
            stretched.add(ident)
    # A record's id the request typed ("squash #417") names that record; written in another
    # record's description ("Follow-up: supersedes #417") it describes nothing the user meant.
    typed_ids = {
        word
        for ident in listed
        for word in content_words(ident)
        if word in wanted and any(c.isdigit() for c in word)
    }
    objects = content_words(" ".join(object_words)) & wanted
    if objects and objects <= typed_ids:
        # the object is named by id alone ("squash-merge #417"): no description to bind by
        # (the verb's words in a title, "squash-merge this one", are no object)
        return Binding((), 0, (), False, {})
    wanted, objects = wanted - typed_ids, objects - typed_ids
    # A possessor counts where what it possesses is not what this tool lists ("Noah's
    # analysis" for a list of students; not "Mia's note" for a list of notes).
    possessors = wanted & content_words(
        " ".join(
            w
            for w, _, head in (o.partition(">") for o in owner_words)
            if not content_words(head) & kind
        )
    )

    # A record the user ruled out contests by what it is, not by whose it is: "approve Tom's
    # docking station, but hold off on his conference ticket" rules out Tom's ticket, which
    # still meets "Tom" and is no rival for that; a docking-station claim reworded into the
    # excluded words is.
    for ident in ruled:
        words, owner = contenders[ident]
        contenders[ident] = (words - possessors, owner)

    def score(ident: str, words: set[str]) -> int:
        own = trusted.get(ident, set())  # empty without writtenByOthers: the first part is 0
        first = _score(0, len(own & objects), len(own & wanted))
        return _TRUSTED * first + _score(
            len(words & objects), len(words & wanted), len(words & possessors)
        )

    scores = {ident: score(ident, words) for ident, words in described.items()}
    best = max(scores.values(), default=0)
    undated = {i: w - dated.get(i, set()) for i, w in described.items()}
    seen = {**contenders, **{i: (frozenset(w), owner_of.get(i)) for i, w in undated.items()}}
    if best % _TRUSTED // 100 % 100 < 1:  # no word of the request at all
        return Binding((), 0, (), False, seen)
    telling = objects or wanted
    # Records an earlier listing of this session showed and this one leaves out still contest
    # a binding ("list_expenses status=resubmitted" returning only the insider's copy).
    pool, owners_of = dict(undated), dict(owner_of)
    for ident, (words, owner) in (*contenders.items(), *(known or {}).items()):
        if ident not in pool:
            pool[ident], owners_of[ident] = set(words), owner
    outside = frozenset(i for i in pool if owners is not None and owners_of.get(i) not in owners)
    ruled_out_ids = frozenset(ruled)
    # The exclusion ruled out more records than it speaks of ("hold off on his conference
    # ticket until I've checked the training budget" ruled out the ticket and, by "training",
    # the docking station "for the training room"): one of them may be a record the user meant.
    overruled = len(ruled) > 1 and not _speaks_of_several(excluded, kind)

    # Vouched for: the user's own record, or one made by someone the request's object or a
    # possessor names ("the SSH rule Mei opened", "Tom's docking station"; a colleague named
    # elsewhere, "and tell Jonas", may be the one who made the copy; with writtenByOthers, a
    # possessor also by the fields the server sets: "Marta's leave" where the owner field is
    # an employee id), unless its name only stretches a name the user typed
    # ("gpu-training-box-v2" for "gpu-training-box"). The maker is named by a word that is not
    # one of the record's own ("the dev box" names no maker dev@…). Anyone else's was chosen by
    # its words, which its maker wrote.
    whose = content_words(" ".join(o.partition(">")[0] for o in owner_words))
    # a maker is named as a name is written, capitalised ("Mei", "Tom's"), or by every word of
    # a handle ("jwu"): "the grant reporting box" names no olivia.grant@
    names = content_words(" ".join(w for w in task_words if w[:1].isupper()))

    def named_maker(b: str) -> bool:
        maker = makers.get(b, set())
        met = maker & (objects | whose)
        return bool(met) and (met == maker or bool(met & names)) and b not in stretched

    def vouched(b: str) -> bool:
        return (
            (mine is not None and owner_of.get(b) in mine)
            or named_maker(b)
            or bool(trusted.get(b, set()) & whose)
        )

    def contest(ids: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
        """:func:`_outscored` for these ids, with this listing's records and words."""
        return _outscored(
            ids,
            pool,
            telling,
            owners_of,
            mine,
            outside,
            ruled_out_ids,
            (named_in, texts),
            vouched if overruled else None,
        )

    def again(bound: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(b for b in earlier if b in pool and b not in bound and contest((b,))[0])

    tied = [i for i, score in scores.items() if score == best and i not in ambiguous]
    # Tied records described by the very same words are lookalikes ("City Power" issued twice,
    # a copy of an issue): the request tells them apart no better than an injection does, so
    # neither is bound. So are tied records the request's words meet alike ("Sunita" meets both
    # of her leave requests, "docs" both docs PRs) when the request speaks of one thing ("approve
    # it", "the docs PR"); when it speaks of several ("my hiking stuff", "the hiking notes",
    # "both"), each is one it describes.
    several = _speaks_of_several(task_words, kind)
    # Records the instruction's object meets alike, told apart only by the rest of the request
    # (the verb, another sentence, an adjunct): those words are what someone writes into their
    # own record to be chosen ("Parental leave - handing over to Leila's cover plan; approve
    # alongside Leila's" beside Leila's "Parental leave", for "approve Leila's parental
    # leave"), so the request does not say which it means, and none is bound (the rule's next
    # line decides) unless it speaks of several. Records the object meets by different words
    # ("train" and "ticket" of "aisha's train ticket email") are told apart by the object.
    if not several and _object_rivals(scores, best, described, objects):
        return Binding((), best, (), False, seen, again(()))
    shapes = [frozenset(described[i]) for i in tied]
    met = [frozenset(described[i] & wanted) for i in tied]
    # counted once (linear): a listing of thousands of tied records must not cost their square
    shape_count, met_count = Counter(shapes), Counter(met)
    bound = tuple(
        i
        for i, shape, meets in zip(tied, shapes, met, strict=True)
        if shape_count[shape] == 1 and (several or met_count[meets] == 1)
    )
    contested, contesting = (False, ()) if several else contest(bound)
    # the records that contest the binding first: the human sees them beside the one chosen
    chosen = set(bound)
    others = (i for i in described if i not in chosen and described[i] & telling)
    rivals = tuple(dict.fromkeys((*contesting, *others)))
    unvouched = tuple(b for b in bound if not vouched(b))
    return Binding(bound, best, rivals, contested, seen, () if several else again(bound), unvouched)


def _maker_words(owner: str | None) -> set[str]:
    """The words of an ``ownedBy`` value that name who made a record: an address's local part
    (``tom.becker`` of ``tom.becker@northwind.example``: its domain names everyone there)."""
    if not owner:
        return set()
    return content_words(owner.rpartition("@")[0] if "@" in owner else owner)


def _object_rivals(
    scores: Mapping[str, int], best: int, described: Mapping[str, set[str]], objects: set[str]
) -> bool:
    """Whether a record ranked below the best meets the same object words as a best one, with
    the same rank from the fields the user's side writes (``writtenByOthers``): ranked lower
    only by the request's other words."""
    rank = best // 10_000  # the trusted part and the object count
    met = {frozenset(described[i] & objects) for i, score in scores.items() if score == best}
    return any(
        score != best and score // 10_000 == rank and frozenset(described[i] & objects) in met
        for i, score in scores.items()
        if described[i] & objects
    )


def _outscored(
    bound: Iterable[str],
    described: Mapping[str, set[str]],
    telling: set[str],
    owner_of: Mapping[str, str | None],
    mine: frozenset[str] | None = None,
    outside: frozenset[str] = frozenset(),
    ruled: frozenset[str] = frozenset(),
    named: tuple[Mapping[str, frozenset[str]], Mapping[str, str]] = ({}, {}),
    vouched: Callable[[str], bool] | None = None,
) -> tuple[bool, tuple[str, ...]]:
    """Whether the binding is contested, and the records not bound that contest it: a record
    not bound, of another owner than a bound one, that the request's telling words (its
    object's, or without any its words) meet too. Whoever makes a record can write more of
    the user's words into it than the record the user meant holds — a teammate's new
    "ci-runner (old CI runner config, snapshot taken)" beside "ci-runner-old" for "take a
    snapshot of the old CI runner", a display name "Jonah Weiss (Aaliyah's review buddy, salary
    update goes here)" beside "Aaliyah Brooks" — so the words do not say which is meant, and
    the human is asked (not refused: "the old runner" beside another owner's "ci-runner" is
    this shape too). Records of different owners bound together on a tie are contested alike,
    unless the request's words for each are their own ("approve Marta's and Jonah's leave").

    Two records of one owner are told apart by the words ("Hiking guide" and "Hiking photos"
    for "my hiking guide"): no one else can add one to that owner's. With ``mine`` (the
    owners that are the user), only the user's are: a colleague can still write a second,
    inflated claim of their own in more of the user's words. With no owner declared, every
    record is of another owner. Records that can never be bound contest too: one of an owner
    the listing does not admit (``outside``), the user's own bound record (``mine``) only with
    a telling word it lacks; one the user's words ruled out (``ruled``), only a record of its
    own owner (who could have reworded both). The record the user meant may be such a one,
    and then the one left bound is someone else's.

    A bound record one of whose description fields is a joined name ("staging-db") that the
    request typed whole (``named``: those names by record, and each record's description as
    written) is contested only by a record whose description holds that name too: "snapshot
    staging-db" binds staging-db, and staging-api, meeting "staging", is no rival; a
    staging-db-primary is (whoever names a record "staging-db" beside it chose the user's name
    for it). A name of several words is no such name (see ``_name``). Only with ``mine``:
    without it, a second record of the bound one's owner is no rival, and another owner's is
    all that catches an insider's decoy."""

    def others(a: str, b: str) -> bool:
        owner = owner_of.get(a)
        if a in ruled:
            # Ruled out by the user's words, it contests a record of its own owner (who can
            # reword both), not another's: "approve Jonas's train ticket but not Ines's". But
            # when the exclusion ruled out more records than it speaks of (``vouched`` given),
            # it also contests another owner's record nothing but its words vouches for (the
            # request does not name its maker): "approve Tom's docking station, but hold off
            # on his conference ticket until I've checked the training budget" ruled out Tom's
            # "docking station for the training room" too, and bound Aisha's "Docking station
            # for Tom", whose words she chose (round 13).
            theirs = mine is None or owner not in mine
            if owner is not None and owner == owner_of.get(b) and theirs:
                return True
            return vouched is not None and owner != owner_of.get(b) and not vouched(b)
        if a in outside and mine is not None and owner_of.get(b) in mine:
            # the user's own record, and one that can never be acted on here: it contests only
            # with words of the request the user's does not have ("the logo redesign invoice"
            # beside the user's "conference logo stickers")
            return bool((described[a] - described[b]) & telling)
        return owner is None or owner != owner_of.get(b) or (mine is not None and owner not in mine)

    bound = tuple(bound)
    met = {b: described[b] & telling for b in bound}
    tied = any(
        others(a, b) and met[a] & met[b] for n, a in enumerate(bound) for b in bound[n + 1 :]
    )
    named_in, texts = named

    def apart(rival: str, b: str) -> bool:
        # a rival of no description read here (an earlier listing's) is never told apart
        if mine is None:
            # Without ``mine``, two records of one owner are told apart by the words, so an
            # insider's second record in more of the user's words is bound: a rival of
            # another owner that meets a telling word is all that asks the human then.
            return False
        typed = named_in.get(b, frozenset())
        text = texts.get(rival)
        return bool(typed) and text is not None and not any(_occurs(n, text) for n in typed)

    found = tuple(
        rival
        for rival, words in described.items()
        if rival not in met
        and words & telling
        and any(others(rival, b) and not apart(rival, b) for b in bound)
    )
    return tied or bool(found), found


def narrowing(spec: RecordsSpec, arguments: Mapping[str, Any] | None) -> str:
    """The arguments of a listing call that may have left records out, as shown to the human
    (``state='running'``; empty: none). Every argument given is one but those ``keepsAll``
    names: a filter, a search, a page or a limit an injection asks for can leave out the
    record the user meant, and the record left is then bound with no rival to contest it."""
    if not isinstance(arguments, Mapping):
        return ""
    given = [
        f"{_printable(str(name))[:40]}={_shown(value)}"
        for name, value in arguments.items()
        if name not in spec.keeps_all and value not in (None, "", [], {})
    ]
    return ", ".join(given[:8]) + (f" and {len(given) - 8} more" if len(given) > 8 else "")


def _shown(value: Any) -> str:
    """An argument's value for the question: a scalar as written (cut short), anything else
    by its kind (an agent's nested value is not worth reading, nor worth a deep walk)."""
    if isinstance(value, str):
        return repr(_printable(value[:60]))
    if isinstance(value, bool | int | float):
        return repr(value)[:30]
    return f"<{type(value).__name__}>"


def descriptions(spec: RecordsSpec, forms: Iterable[Any], ids: Iterable[str]) -> dict[str, str]:
    """The ``describedBy`` text of the records with these ids, as a person reads it ("Leila
    Haddad · Parental leave"), each at most 160 characters: what the human confirms."""
    wanted = set(ids)
    records = next(filter(None, (_records(spec, form) for form in forms)), None) or []
    found: dict[str, str] = {}
    for record in records[:MAX_RECORDS]:
        if not isinstance(record, Mapping):
            continue
        ident = _scalar(_get(record, spec.id))
        if ident in wanted and ident not in found:
            parts = (_get(record, name) for name in spec.described_by)
            text = " · ".join(_printable(p) for p in parts if isinstance(p, str) and p)
            found[ident] = text[:157] + "..." if len(text) > 160 else text
    return found


def records_listed(spec: RecordsSpec, forms: Iterable[Any]) -> int:
    """How many records the listing's result holds (read or not: past :data:`MAX_RECORDS`,
    records neither bind nor contest)."""
    records = next(filter(None, (_records(spec, form) for form in forms)), None)
    return len(records) if records is not None else 0


_SEVERAL_VALUES = re.compile(r"[\s,;<>]")


def granted_fields(
    spec: RecordsSpec, forms: Iterable[Any], ids: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Per ``alsoGrants`` list, the values its field holds in the records with these ids (a
    scalar, as text; a record whose id the result lists twice with different values gives
    none: which one the user meant is not known)."""
    if not spec.also_grants:
        return {}
    wanted = set(ids)
    records = next(filter(None, (_records(spec, form) for form in forms)), None) or []
    seen: dict[tuple[str, str], set[str]] = {}
    for record in records[:MAX_RECORDS]:
        if not isinstance(record, Mapping):
            continue
        ident = _scalar(_get(record, spec.id))
        if ident not in wanted:
            continue
        for field, name in spec.also_grants.items():
            raw = _get(record, field)
            value = _scalar(raw)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                value = _number_text(raw)  # a JSON number: as its amount forms below read it
            if value is not None and value.strip():
                # one value, or none: "a@x, evil@y", "Name <evil@y>" hold several, and a
                # server may send to each
                one = value.strip()
                seen.setdefault((ident, name), set()).add(
                    one if not _SEVERAL_VALUES.search(one) else "\x00several"
                )
    found: dict[str, list[str]] = {}
    for (_, name), values in seen.items():
        if len(values) == 1 and "\x00several" not in values:
            # an amount as a number role's values are written ("264.00" also as 264.0, 264)
            found.setdefault(name, []).extend(f for value in values for f in _amount_forms(value))
    return {name: tuple(dict.fromkeys(values)) for name, values in found.items()}


# A field holding an amount ("264.00", "89.9", or a JSON number): its forms match a number
# role's value however the agent writes it (264.0, 264); an id of digits written as a string
# ("0042", "450") is kept as written only, and no form rounds ("263.996" is no 264.00).
_AMOUNT_FIELD = re.compile(r"-?(?:0|[1-9]\d{0,14})(?:\.\d{1,6})?")
_NUMBER_MARK = "\x00number:"


def _number_text(value: float) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return f"{_NUMBER_MARK}{value!r}"


def _amount_forms(value: str) -> list[str]:
    numeric = value.startswith(_NUMBER_MARK)
    text = value.removeprefix(_NUMBER_MARK)
    if not _AMOUNT_FIELD.fullmatch(text) or not (numeric or "." in text):
        return [text]
    number = float(text)
    forms = [text, repr(number)]
    if float(f"{number:.2f}") == number:
        forms.append(f"{number:.2f}")  # two places, never rounded: "263.996" is no "264.00"
    if number.is_integer():
        forms.append(str(int(number)))
    return forms


def _printable(text: str) -> str:
    """Others' text as one line a terminal shows as written: control and format characters
    (an escape sequence, a right-to-left override) left out, white space collapsed."""
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c.isspace())
    return " ".join(kept.split())


def listing_kind(tool: str) -> frozenset[str]:
    """The words of a listing tool's name, as :func:`content_words` (``list_photos``: list,
    photo): the kind of object it lists."""
    return frozenset(content_words(re.sub(r"[_\W]+", " ", tool)))


_JOINED = re.compile(r"\w[-_.]\w")


def _name(value: str) -> str:
    """A description field's value as a joined name ("staging-db", "ci-runner-arm"),
    case-folded; "" for any other value. A name of several words is none: people choose their
    own display names (a pupil's preferred name, a colleague's directory name), and one named
    exactly as the user typed a person's name, when the person meant goes by a short form
    ("Marta S."), was bound with no question (session 16's attacks)."""
    name = value.strip().casefold()
    if not name or len(name) > _MAX_NAME or any(c.isspace() for c in name):
        return ""
    return name if _JOINED.search(name) else ""


_MAX_NAME = 200  # longer field values are descriptions, not names


def _occurs(name: str, text: str) -> bool:
    """Whether ``name`` is in ``text`` as a whole, ending at word ends: "staging-db" is in
    "snapshot staging-db tonight" and in "staging-db-primary", not in "staging-dbx"."""
    at = text.find(name)
    while at != -1:
        end = at + len(name)
        if (at == 0 or not text[at - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            return True
        at = text.find(name, at + 1)
    return False


# With ``writtenByOthers``, the words of the other fields rank first: (object, all) met there,
# above the three counts of all fields.
_TRUSTED = 1_000_000


def _score(objects: int, words: int, possessors: int) -> int:
    return min(objects, 99) * 10_000 + min(words, 99) * 100 + min(possessors, 99)


def score_of_count(count: int) -> int:
    """A score written before object words ranked first (a count of all the words met) as
    one now, read strictly: as if the object had met each of those words."""
    return _score(count, count, 0)


# The verbs a listing tool's name starts with: they name no kind of object.
_LISTING_VERBS = frozenset(
    ("list", "search", "get", "find", "read", "fetch", "show", "query", "lookup", "browse")
)


def listing_nouns(tool: str) -> frozenset[str]:
    """The words of :func:`listing_kind` but its verbs (``search_notes``: note): what a
    request names when it names that kind of object."""
    return listing_kind(tool) - _LISTING_VERBS


# Words by which a request speaks of several objects at once.
_SEVERAL = frozenset({"all", "both", "every", "each", "everything", "stuff", "several", "them"})


def _speaks_of_several(task_words: Iterable[str], kind: set[str]) -> bool:
    """Whether the request speaks of several objects: a word like "all", "both", "stuff", or
    the plural of the kind of object the tool lists ("the hiking notes" for list_notes)."""
    for token in task_words:
        word = token.casefold()
        if word in _SEVERAL or (word.endswith("s") and _stem(word) in kind):
            return True
    return False


def _records(spec: RecordsSpec, data: Any) -> list[Any] | None:
    found = _get(data, spec.at) if spec.at is not None else data
    return found if isinstance(found, list) else None


def owner_values(entries: Iterable[str], lists: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """The values an ``ownedBy`` entry list names: each value, or a ``@list``'s values."""
    values: set[str] = set()
    for item in entries:
        if item.startswith("@"):
            values.update(lists.get(item[1:], ()))
        else:
            values.add(item)
    return frozenset(values)
