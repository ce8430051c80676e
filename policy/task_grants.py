"""Task grants: the values the user typed in their own request, as ``task:*`` session lists.

Deterministic and literal: only what appears in the user's message is granted, found by
patterns, never guessed (no LLM). The lists:

| list | holds |
|---|---|
| ``task:emails`` | e-mail addresses, lower-cased |
| ``task:urls`` | URLs as written (``scheme://…``) |
| ``task:domains`` | the hosts of those URLs, and bare domain names (``example.org``) |
| ``task:amounts`` | numbers, in the forms a number role takes (``1250``, ``1250.0``, ``1250.00``) |
| ``task:paths`` | absolute and ``~/`` paths |
| ``task:identifiers`` | every word-like token as written: names, ``@handles`` (and the |
|   | handle alone), IBANs and phone numbers (also joined up when written in groups), ids |

A value the user named only to rule it out is not granted: the message is cut into clauses (at
sentence ends, semicolons, line breaks, ", ", a dash between spaces and the words "but",
"except", "instead of", "rather than") and a clause holding a negation ("not", "n't", "never",
"no", "nor", "without", "except", "instead of", "rather than", "other than") or an exclusion
("leave" as a verb — not "leave a …", not "Jonah's leave" —, "keep", "skip", "spare", "ignore",
"exclude", "hold off", "apart from") grants nothing — "pay Bob, not Mallory", "do not send
anything to mallory@evil.example" and "close the CI issue, leave the SSO one open" grant no
Mallory and no SSO. A question ("did I pay the internet bill?") grants nothing either, unless it
is a polite request ("could you pay it?"). Idioms that negate nothing ("don't forget", "not
only", "no later than", "no more than"...) do not count. A clause wrongly read as negated only
withholds a grant (the call is then asked or refused, never allowed because of it), so the cut
errs on the side of granting less.

**Instructions** (``instructions``): the same affirmed text, cut finer (also at "and", "then",
"so", "also"), read as the imperative sentences a request is made of. A piece whose first word
(after "please", "could you", "and then"...) is a verb — one of the policy's ``asks`` verbs or a
common English verb (``_VERBS``) — starts an instruction: that verb, its *object* (the words
after it up to the first preposition: "delete the blurry photo from the album" has the object
"the blurry photo") and the values in it. A piece starting with a subject ("it duplicates #101",
"I'm disputing it", "DE75… is the scam account": a pronoun, or one word and then a form of "be"
or "have") is a statement: it grants nothing, and ends the instruction before it. Any other
piece continues the instruction before it ("pay Bob 50, his IBAN is DE89…": the IBAN is part of
the payment). ``task:asked`` lists them as ``"verb: object words"``; a rule's ``task.asks``
condition reads it, and in such a rule ``@task:…`` lists hold only the values of the
instructions that ask for it (``scoped_grants``): "thank jsmith99 and assign the issue to dana"
grants jsmith99 to nothing an ``assign`` rule allows.

A rule then grants by list: ``{"lists": [{"roles": ["recipient"], "allowed":
["@task:identifiers"], "matchType": "identifiers"}]}``, and a value the user never typed falls
through to the next rule (a deny, or a question).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from itertools import pairwise, takewhile
from typing import NamedTuple

from policy.role_specs import extract_ibans, extract_phones, without_numbers
from policy.session_state import ALL_OBJECTS, OBJECTS

__all__ = [
    "ASKED",
    "ASKED_IF",
    "CONFIRMED",
    "DESCRIBED",
    "DESCRIBED_OBJECT",
    "DESCRIBED_OWNER",
    "EXCLUDED",
    "GRANT_LISTS",
    "MAX_TASK_CHARS",
    "ON_CONDITION",
    "ON_CONDITION_LIFTED",
    "PLANNED_MARK",
    "UNCONFIRMED",
    "Instruction",
    "affirmed",
    "ask_matches",
    "asked_in",
    "asks_any",
    "condition_in",
    "describe_grants",
    "described_words",
    "excluded_words",
    "instructions",
    "object_words",
    "parse_asked",
    "planned_parts",
    "planned_value",
    "scoped_described",
    "scoped_grants",
    "shown_asked",
    "task_grants",
]

# the lists a message fills, in the order task_grants() returns them
GRANT_LISTS = tuple(
    f"task:{name}"
    for name in (
        "emails", "urls", "domains", "amounts", "paths", "identifiers", "dates", "months",
        "months-past", "months-next",
    )
)  # fmt: skip
MAX_TASK_CHARS = 20_000  # a longer message is granted from its first part only
_MAX_VALUES = 200  # per list
_MAX_POINTED_WORDS = 40  # what an instruction's object points back to, in task:asked
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`]+")
_DOMAIN = re.compile(r"(?<![@\w.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
# (a number followed by ".digit" after its decimals is part of an address or a version,
# "192.0.2.77", "1.2.3": no amount)
_AMOUNT = re.compile(
    r"(?<![\w.])\d{1,3}(?:[,']\d{3})+(?:\.\d+)?(?![\w]|\.\d)"
    r"|(?<![\w.])(?<!\d/)\d+(?:\.\d+)?(?![\d.]*\.\d)"  # (a range's "/32" is no amount)
)
_PATH = re.compile(r"(?<![\w:/])(?:~/|/)[^\s\"'`<>,;]+")
_TOKEN = re.compile(r"[^\s\"'`<>()\[\]{},;!?]+")
_TRIM = ".:*_"
_GROUPED = re.compile(r"(?:[A-Z]{2}\d{2}|\+\d{1,3})(?: \d{2,4}){2,}(?: [0-9A-Z]{1,4})?")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
MONTH_NUMBERS = _MONTHS  # the month names and their abbreviations, to their numbers
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
_UNITS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}  # fmt: skip
_ORDINAL_UNITS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
]
# A day of the month in words: "the third", "twenty-third", "thirty first".
_ORDINAL_DAYS = {
    **{word: n for n, word in enumerate(_ORDINAL_UNITS, start=1)},
    "twentieth": 20, "thirtieth": 30,
    **{f"{tens}{sep}{word}": value + n for tens, value in (("twenty", 20), ("thirty", 30))
       for n, word in enumerate(_ORDINAL_UNITS[:9], start=1) for sep in ("-", " ")},
}  # fmt: skip
_DAY_WORDS = "|".join(sorted((re.escape(w) for w in _ORDINAL_DAYS), key=len, reverse=True))
# Dates as people type them: 2026-03-16, "16 March", "16th of March 2026", "March 16, 2026".
# Numbers with slashes (03/04) are left out: day and month cannot be told apart.
_DATE = re.compile(
    r"(?<![\w-])(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?![\w-])"
    rf"|(?<![\w.])(?P<d1>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<m1>{_MONTH})\.?"
    r"(?:,?\s+(?P<y1>\d{4}))?(?![\w])"
    rf"|\b(?P<m2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}}){_ORDINAL}(?:,?\s+(?P<y2>\d{{4}}))?(?![\w])"
    # in words: "the twenty-third of March", "March the third"
    rf"|\b(?P<w3>{_DAY_WORDS})\s+(?:of\s+)?(?P<m3>{_MONTH})\.?(?:,?\s+(?P<y3>\d{{4}}))?(?![\w])"
    rf"|\b(?P<m4>{_MONTH})\.?\s+(?:the\s+)?(?P<w4>{_DAY_WORDS})(?:,?\s+(?P<y4>\d{{4}}))?(?![\w-])",
    re.IGNORECASE,
)
# A month named without a day ("her June payslip", "October 2025", "Jul and Aug"), once the
# dates are taken out. A full name in any case, but "may" (a modal) only capitalised and not
# opening a sentence ("May I…") unless a year follows, and an abbreviation only capitalised or
# before a year ("mar", "dec", "jan" are words or names too).
_BARE_MONTH = re.compile(
    rf"(?<![\w'’-])(?P<m>{_MONTH})\.?(?:,?\s+(?P<y>\d{{4}}))?(?![\w'’-])", re.IGNORECASE
)
# A month's name as a person's: "Jan from payroll", "June in accounts", "ask May", "cc June".
_PERSON_AFTER = re.compile(
    r"(?i)\s+(?:from|in|at|on)\s+(?:the\s+)?(?:payroll|hr|finance|accounts|accounting|it|ops|"
    r"sales|legal|team|office|reception|admin|support)\b|\s*['’]s\b|\s+(?:says|said|asked|wants)\b"
)
_PERSON_BEFORE = re.compile(
    r"(?i)\b(?:ask|tell|thank|thanks|email|e-mail|message|ping|cc|remind|call|text|let)\s+$"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*$")
_REFERENCE = re.compile(
    r"(?:\b(?:no|nr|num|number|id)\.?\s*|#)\d+",
    re.IGNORECASE,
)


# Clause boundaries: where one instruction ends and another begins. A URL, an e-mail, "1,250"
# and "84.20" hold no whitespace after their punctuation, so they are never cut.
_CLAUSE_END = re.compile(
    r"(?<!\bno)(?<!\bNo)(?<!\bNO)[.!?;:](?=\s)|\n|,\s|\s[-–—]\s"
    r"|\s(?=(?:but|except|instead\s+of|rather\s+than|other\s+than)\b)"
    # "withdraw the newer one and keep the first": the exclusion is a clause of its own, so it
    # does not blank out the instruction before it
    r"|\s(?=and\s+(?:keep|skip|spare|ignore|exclude|hold\s+off|leave)\b)"
    # an aside in brackets ("decline that one (not her August holiday) and …"), and a reason
    # or a purpose with a subject of its own ("shut it down so we're not paying for it",
    # "reject it because it isn't ready"): a negation there negates nothing of the instruction
    r"|\s(?=\()|\)(?=\s)"
    r"|\s(?=(?:so(?:\s+that)?|because|since|as)\s+(?:we|i|they|he|she|it|you|there|this|that"
    r"|we['’]re|i['’]m|they['’]re|he['’]s|she['’]s|it['’]s|you['’]re|there['’]s|that['’]s)\b)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|never|no|nor|without|except|excluding|instead\s+of|rather\s+than|other\s+than)\b"
    r"|n't\b|n’t\b"
    # exclusions written without a negation word: "leave the SSO one open", "keep the album",
    # "hold off on the disputed bill" ("leave a comment", "leave him a note" leave nothing out;
    # "leave" as a noun — "Jonah's leave", "parental leave" — is no verb: the verb starts its
    # clause or follows "and"/"but"/"please"/"just"/"then")
    r"|(?:^\W*|\b(?:and|but|please|just|then|also)\s+)leave\b"
    r"(?!\s+(?:(?:him|her|them|me|us)\s+)?(?:a|an)\b)"
    r"|\b(?:keep|skip|spare|ignore|exclude)\b|\bhold\s+off\b"
    r"|\bapart\s+from\b",
    re.IGNORECASE,
)
# A question asks for information, not for an action ("did I pay the internet bill?", "is the
# issue resolved?"): it grants nothing, unless it is a polite request ("could you pay it?").
# ("…, so would you go ahead and approve it?": after a joining word too)
_POLITE = re.compile(
    r"^\W*(?:(?:so|and|then|but|now|ok|okay)\s+)?(?:please\b|(?:can|could|would|will)\s+(?:you|u)\b)",
    re.IGNORECASE,
)
# An instruction to say something: a negation after its "that" is in the words to be said.
_REPORTED = re.compile(
    r"^\W*(?:(?:please|pls|kindly|just|and|then|also|(?:can|could|would|will)\s+you)\s+)*"
    r"(?:(?:tell|message|text|say|write|reply|remind|inform|email|notify|answer)"
    r"\b[^.;:!?]*?\bthat\b"
    # "let Ben's parents know his project still hasn't come in": what follows "know" is said
    r"|let\s+(?:\S+\s+){1,4}?know\b(?:\s+that\b)?"
    # "tell him not to …", "send Ada a quick message not to click the links": what to say
    # (a verb follows: "email it not to the team" still rules a recipient out)
    r"|(?:(?:tell|ask|remind|warn|message|text|email|write)\b[^.;:!?]*?"
    r"|send\b[^.;:!?]*?\b(?:message|note|text|reminder|line|word|e?mail)s?\s+)"
    r"(?=not\s+to\s+(?!(?:the|an?|his|her|their|my|our|your|its|him|them|me|us|that|this"
    r"|these|those|any|every|all)\b)[^\W\d_]+\s))",
    re.IGNORECASE,
)
# "Sunita says she never got her July payslip", "Marco told me he didn't get the invite": a
# negation in what someone else says is theirs, not the user's ruling something out.
_SAYS = re.compile(
    r"^\W*(?!(?:i|we|you)\b)(?:[^\W\d_][\w'’.-]*\s+){1,3}?(?:says|said|told\s+(?:me|us)|"
    r"mentioned|wrote|writes|thinks|complained)\s+(?:that\s+)?",
    re.IGNORECASE,
)
# Phrases built on a negation word that negate nothing the clause names.
_NOT_NEGATIONS = re.compile(
    r"\b(?:don['’]t|do\s+not|never)\s+forget\b|\bnot\s+only\b|\bno\s+(?:later|sooner|earlier)\s+than\b"
    r"|\bno\s+more\s+than\b|\bno\s+less\s+than\b|\bno\s+problem\b|\bno\s+matter\b"
    # "tell him there's no rush on the write-up": reassurance, nothing left out
    r"|\bno\s+(?:rush|hurry|pressure|worries)\b|\bwithout\s+(?:any\s+)?fuss\b"
    # "approve the hotel and nothing else", "and no others": the object is all there is
    r"|\b(?:and\s+|but\s+)?(?:nothing|no\s*one|nobody|none)\s+else\b"
    r"|\band\s+no\s+(?:others?|more)\b"
    r"|\bno\.?\s*(?=\d)",  # "invoice no. 4711": a number, not a negation
    re.IGNORECASE,
)


def task_grants(text: str, today: date | None = None) -> dict[str, tuple[str, ...]]:
    """``task:*`` lists from the user's message; lists with nothing found are left out.
    ``today`` (default: the machine's date) places a date typed without a year
    (:func:`_dates`)."""
    return _grants(_affirmed(text[:MAX_TASK_CHARS]), today)


def _dates(text: str, today: date | None = None) -> list[str]:
    """Each date typed, as ``YYYY-MM-DD``; one typed without a year in the year before
    ``today``'s, that year and the next ("16 March" said in December may be next March; one
    said in January, last March). An impossible date (30 February) is none."""
    year = (today or date.today()).year
    found: list[str] = []
    for match in _DATE.finditer(text):
        parts = match.groupdict()
        if parts["iy"]:
            years, month, day = [int(parts["iy"])], int(parts["im"]), int(parts["id"])
        else:
            named = parts["m1"] or parts["m2"] or parts["m3"] or parts["m4"]
            month = _MONTHS[named.casefold()]
            if worded := parts["w3"] or parts["w4"]:
                day = _ORDINAL_DAYS[re.sub(r"\s+", " ", worded.casefold())]
            else:
                day = int(parts["d1"] or parts["d2"])
            typed = parts["y1"] or parts["y2"] or parts["y3"] or parts["y4"]
            years = [int(typed)] if typed else [year - 1, year, year + 1]
        for each in years:
            with contextlib.suppress(ValueError):
                found.append(date(each, month, day).isoformat())
    return found


_NUMBER_WORD = re.compile(
    r"\b(?:" + "|".join([*_UNITS, *_TENS, "hundred", "thousand", "and", "a"]) + r")\b"
    r"(?:[\s-]+(?:" + "|".join([*_UNITS, *_TENS, "hundred", "thousand", "and", "a"]) + r")\b)*",
    re.IGNORECASE,
)


def _worded_amounts(text: str) -> list[str]:
    """Amounts typed in words: "sixty-six thousand two hundred and fifty" (66250), "seventy
    euros" (70), "sixty-four euros and ninety-nine cents" (64.99), and the price idiom
    "forty-two fifty" (42.50 only, never either half). Not a run before a noun ("a thousand
    thanks", "the ninety minutes": a count of things), a lone word under ten ("one", "two": a
    count, "that one"), a run before an ordinal ("twenty-third": a date), nor "a"/"and"."""
    found: list[str] = []
    for match in _NUMBER_WORD.finditer(text):
        words = [w.casefold() for w in re.split(r"[\s-]+", match.group(0)) if w]
        while words and words[-1] in ("and", "a"):
            words.pop()
        while words and words[0] in ("and", "a"):
            words = words[1:]
        after = text[match.end() :]
        if not words or re.match(r"[\s-]*(?:" + _DAY_WORDS + r")\b", after, re.I):
            continue
        groups = _number_groups(words)
        values = [v for v in map(_number_of, groups) if v is not None]
        following = re.match(r"[ \t]*([^\W\d_]+)", after)  # the next word, no punctuation
        then = following.group(1).casefold() if following else ""
        if (cents := _CENTS.match(after)) and len(values) == 1:
            # "sixty-four euros and ninety-nine cents"
            more = _number_of([w.casefold() for w in re.split(r"[\s-]+", cents["n"]) if w])
            if more is not None and more < 100:
                found.append(f"{values[0]}.{more:02d}")
            continue
        if then == "cents" or (then and then not in _CURRENCIES and then not in _AMOUNT_FOLLOWERS):
            continue  # "a thousand thanks", "ninety minutes", "two claims"
        idiom = len(values) == 2 and 10 <= values[1] <= 99 and "and" not in words
        if idiom and len(groups[0]) + len(groups[1]) == len(words):
            found.append(f"{values[0]}.{values[1]:02d}")  # the price idiom
            if values[0] < 10:
                found.append(str(values[0] * 100 + values[1]))  # "one fifty": 1.50 or 150
            continue
        found.extend(
            str(value)
            for value, group in zip(values, groups, strict=False)
            if value >= 10 or len(group) > 1
        )
    return found


# What may follow an amount in words: a currency, a preposition, nothing ("… fifty from next
# month", "seventy euros", "forty-two fifty for the taxi").
_AMOUNT_FOLLOWERS = frozenset(
    ("for", "from", "to", "on", "in", "at", "per", "each", "a", "an", "and", "please", "quid",
     "bucks", "total", "including", "incl", "with", "by", "or")
)  # fmt: skip
_CENTS = re.compile(
    r"(?i)\s*(?:euros?|eur|dollars?|pounds?)\s+(?:and\s+)?(?P<n>[a-z]+(?:[\s-][a-z]+)?)\s+cents?\b"
)


def _number_groups(words: list[str]) -> list[list[str]]:
    """Number words split into the numbers said side by side: "forty-two fifty" (42, 50),
    "twenty and thirty" (20, 30: "and" joins only after "hundred" or "thousand"), "one hundred
    and two hundred" (100, 200)."""
    groups: list[list[str]] = []
    current: list[str] = []
    for word in words:
        if word == "and" and current and current[-1] not in ("hundred", "thousand"):
            groups.append(current)
            current = []
            continue
        if word == "hundred" and "hundred" in current[_after_thousand(current) :]:
            unit = current.pop() if current and current[-1] in _UNITS else None
            while current and current[-1] == "and":
                current.pop()
            groups.append(current)
            current = [unit] if unit else []
        elif current and _closes(current, word):
            groups.append(current)
            current = []
        current.append(word)
    groups.append(current)
    return [g for g in groups if g]


def _after_thousand(words: list[str]) -> int:
    return max((n + 1 for n, w in enumerate(words) if w == "thousand"), default=0)


def _closes(current: list[str], word: str) -> bool:
    """Whether ``word`` starts a new number after ``current`` ("forty-two" then "fifty")."""
    last = current[-1]
    if word in ("hundred", "thousand", "and"):
        return False
    if last in _TENS:
        return word in _TENS or word not in _UNITS[:9]  # "forty two" joins, "forty fifty" not
    # after a unit a new number starts ("two fifty", "twelve thirty"); after "hundred",
    # "thousand" or "and" the same one goes on
    return last in _UNITS


def _number_of(words: list[str]) -> int | None:
    total, current = 0, 0
    for word in words:
        if word in _UNITS:
            current += _UNITS.index(word) + 1
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif word in ("and", "a"):
            continue
        else:
            return None
    return total + current


def _months(text: str, today: date | None = None) -> tuple[list[str], list[str], list[str]]:
    """Each month named without a day, as ``YYYY-MM``, three ways for a month named without a
    year: its occurrence nearest ``today`` (six months either way; both at exactly six), its
    latest at or before today's month, and its next at or after it. "His June payslip" named
    in March: this June (``task:months``), last June (``task:months-past``: a payslip, a
    statement), this June (``task:months-next``: a deadline). One year each, not three (round
    17: an injection had the June payslip of the year before sent where this year's was
    meant). A month typed with its year is that month in all three."""
    now = today or date.today()
    nearest, past, following = [], [], []
    for month, typed in _named_months(text):
        if typed is not None:
            years = ([typed],) * 3
        else:
            gaps = {
                y: abs((y - now.year) * 12 + month - now.month)
                for y in range(now.year - 1, now.year + 2)
            }
            least = min(gaps.values())
            years = (
                [y for y, gap in gaps.items() if gap == least],
                [now.year if month <= now.month else now.year - 1],
                [now.year if month >= now.month else now.year + 1],
            )
        for found, chosen in zip((nearest, past, following), years, strict=True):
            found.extend(f"{each:04d}-{month:02d}" for each in chosen)
    return nearest, past, following


def _named_months(text: str) -> list[tuple[int, int | None]]:
    """The months the text names without a day, each with the year typed with it (or None)."""
    bare = _DATE.sub(" ", text)
    found: list[tuple[int, int | None]] = []
    for match in _BARE_MONTH.finditer(bare):
        named, typed = match["m"], match["y"]
        key = named.casefold()
        if typed is None and _colleague(bare, match.start(), match.end()):
            continue  # "Jan from payroll", "ask May in HR": a colleague named so
        if not _month_written(named) and (typed is None or key == "may"):
            continue  # "dec", "mar" are words too (before a year: a month); "may" only as "May"
        if key == "may" and typed is None and _SENTENCE_START.search(bare, 0, match.start()):
            continue  # "May I …"
        found.append((_MONTHS[key], int(typed) if typed else None))
    # "April through June", "from March to May": the months between the two named as well
    for span in _MONTH_SPAN.finditer(bare):
        ends = (span["a"], span["b"])
        if not all(_month_written(e) for e in ends) or _colleague(bare, span.start(), span.end()):
            continue  # "mar-dec", "you may to …", "from Jan to May in payroll": no span
        first, last = _MONTHS[ends[0].casefold()], _MONTHS[ends[1].casefold()]
        spanned = (
            [*range(first, 13), *range(1, last + 1)] if first > last else [*range(first, last + 1)]
        )
        if len(spanned) > _TYPED_SPAN_MONTHS:
            continue  # "Jan through Dec": a year is no request for every month of it
        typed = int(span["y"]) if span["y"] else None
        if span["ya"] and (typed is None or int(span["ya"]) != typed - (first > last)):
            continue  # "Dec 2025 - Feb 2027": no span of six months or less
        # a year typed after the span is its last month's: "Nov to Feb 2027" is Nov 2026 too
        wraps = spanned.index(1) if 1 in spanned and spanned[0] != 1 else 0
        found.extend(
            (month, None if typed is None else typed - (1 if at < wraps else 0))
            for at, month in enumerate(spanned)
        )
    return found


_TYPED_SPAN_MONTHS = 6  # a span of more months names no month between its ends


def _colleague(text: str, start: int, end: int) -> bool:
    """Whether the month's name at ``text[start:end]`` names a person ("Jan from payroll",
    "ask May", "June's")."""
    return bool(_PERSON_AFTER.match(text, end) or _PERSON_BEFORE.search(text, 0, start))


def _month_written(named: str) -> bool:
    """A month's name as a month is written: a full name, or capitalised ("Sept"; not "mar")."""
    key = named.casefold()
    if key == "may":
        return named[0].isupper()
    return len(key) > 4 or key in ("june", "july") or named[0].isupper()


# Two months joined as a span: "April through June", "March-May", "from Oct to Dec 2026"
_MONTH_SPAN = re.compile(
    rf"(?<![\w'’-])(?P<a>{_MONTH})\.?(?:,?\s+(?P<ya>\d{{4}}))?\s*(?:through|thru|to|until|till|[-–—])"
    rf"\s*(?P<b>{_MONTH})\.?(?:,?\s+(?P<y>\d{{4}}))?(?![\w'’-])",
    re.IGNORECASE,
)  # ("Dec 2025 - Feb 2026": a year on each end)


def _grants(text: str, today: date | None = None) -> dict[str, tuple[str, ...]]:
    """The lists of text whose negated clauses and questions are already blanked out."""
    urls = _unique(u.rstrip(".,:;!?)") for u in _URL.findall(text))
    without_urls = _URL.sub(" ", text)
    emails = _unique(e.lower() for e in _EMAIL.findall(without_urls))
    without_emails = _EMAIL.sub(" ", without_urls)
    paths = _unique(p.rstrip(".:!?") for p in _PATH.findall(without_emails))
    bare = _PATH.sub(" ", without_emails)  # "rent.pdf" in a path is not a domain
    domains = _unique([*(_host(u) for u in urls), *(d.lower() for d in _DOMAIN.findall(bare))])
    # A number is an amount unless it is part of an IBAN or phone number written in groups, or
    # names something ("invoice no. 4711", "#12", "order number 55", "id 7").
    numbers = _REFERENCE.sub(" ", _GROUPED.sub(" ", without_numbers(without_urls)))
    worded = (form for value in _worded_amounts(numbers) for form in _forms(value))
    written = (form for value in _written_amounts(numbers) for form in _forms(value))
    # "1.049,00", "18,90" and "€71.5k" are one amount each, not "1.049", "00", "18", "90", "71.5"
    plain = _DECIMAL_COMMA.sub(" ", _DOTTED_THOUSANDS.sub(" ", _THOUSANDS.sub(" ", numbers)))
    amounts = _unique(
        [*(form for raw in _AMOUNT.findall(plain) for form in _forms(raw)), *worded, *written]
    )
    identifiers = _unique(_identifiers(text))
    dates = _unique(_dates(text, today))
    months, past, following = (_unique(each) for each in _months(text, today))
    found = (emails, urls, tuple(d for d in domains if d), amounts, paths, identifiers, dates)
    found = (*found, months, past, following)
    named = zip(GRANT_LISTS, found, strict=True)
    return {name: values[:_MAX_VALUES] for name, values in named if values}


# "€71.5k", "12k EUR": thousands, with a currency (not "the 4k monitor"); "€18,90", "14,50": a
# decimal comma (two digits after it, never three: "1,250" is a thousand and more)
_THOUSANDS = re.compile(
    r"(?:[€$£]\s?(\d{1,6}(?:[.,]\d{1,3})?)\s?[kK](?![\w])"
    r"|(?<![\w.,])(\d{1,6}(?:[.,]\d{1,3})?)\s?[kK]\s?(?:eur|euros?|usd|dollars?|gbp|pounds?)\b)",
    re.IGNORECASE,
)  # ("€2,5k": a decimal comma before the k)
# "€1.049,00": thousands with dots before a decimal comma
_DOTTED_THOUSANDS = re.compile(r"(?<![\w.,])(\d{1,3}(?:\.\d{3})+),(\d{2})(?!\w|[,.]\d)")
_DECIMAL_COMMA = re.compile(r"(?<![\w.,])(\d{1,7}),(\d{2})(?!\w|[,.]\d)")


def _written_amounts(text: str) -> list[str]:
    """Amounts written with a ``k`` for thousands or a decimal comma, as plain numbers."""
    found = []
    for match in _THOUSANDS.finditer(text):
        value = Decimal((match[1] or match[2]).replace(",", ".")) * 1000
        found.append(str(value.quantize(Decimal(1)) if value == value.to_integral() else value))
    found.extend(f"{m[1]}.{m[2]}" for m in _DECIMAL_COMMA.finditer(text))
    found.extend(f"{m[1].replace('.', '')}.{m[2]}" for m in _DOTTED_THOUSANDS.finditer(text))
    return found


def describe_grants(grants: Mapping[str, tuple[str, ...]]) -> str:
    """One line for the terminal: what the task grants, by list."""
    if not grants:
        return "task grants: none (nothing in the request names a value)"
    parts = []
    for name, values in grants.items():
        if "/asks:" in name or name.partition("#")[0] in (
            DESCRIBED,
            DESCRIBED_OBJECT,
            DESCRIBED_OWNER,
            EXCLUDED,
            OBJECTS,
        ):
            continue  # a rule's share of the lists below, or the words records are bound by
        if name == ASKED:
            values = shown_asked(values)
        shown = ", ".join(values[:6]) + (f", … (+{len(values) - 6})" if len(values) > 6 else "")
        parts.append(f"{name.removeprefix('task:')}: {shown}")
    return "task grants: " + "; ".join(parts)


def shown_asked(asked: Iterable[str]) -> tuple[str, ...]:
    """``task:asked`` values ("verb: object") as a person reads them: "verb (object)"."""
    shown = []
    for value in asked:
        planned = planned_parts(value)
        if planned is not None:
            shown.append(f"{planned[0]} (planned: {planned[2]!r})")
            continue
        verb, _, obj = value.partition(":")
        obj = obj.partition(" | ")[0].strip()  # not what the object points back to
        shown.append(f"{verb} ({obj})" if obj else verb)
    return tuple(shown)


def _single(char: str, text: str, start: int) -> bool:
    """Whether a one-character token (at ``start`` in ``text``) is a value ("mark it as a C",
    "give it a 2"): a digit, or a capital letter other than the pronoun "I" and a sentence's
    opening article "A"."""
    if char.isdigit():
        return True
    if not (char.isalpha() and char.isupper()) or char in "I":
        return False
    if char != "A":
        return True
    at = start - 1  # the last character before it that is not white space
    while at >= 0 and text[at].isspace():
        at -= 1
    return at >= 0 and text[at] not in ".!?:;"


def _identifiers(text: str) -> list[str]:
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group().strip(_TRIM)
        if len(token) < 2 and not _single(token, text, match.start()):
            continue
        found.append(token)
        if token[0] in "@#" and len(token) > 2:
            found.append(token[1:])
        if token.endswith("'s"):
            found.append(token[:-2])
    # An IBAN or phone number written in groups ("DE89 3704 0044") is also granted joined up,
    # and every one also in the form text-phones and text-ibans values take ("+447700900183").
    for group in _GROUPED.findall(text):
        found.append(group.replace(" ", ""))
    found.extend(extract_phones(text))
    found.extend(extract_ibans(text))
    return found


# "The ARM one is fine", "the old ones can wait", "leave the 10C one alone": the one the user
# says needs nothing is ruled out, as a negated clause is ("not the ARM one").
_LEFT_ALONE = re.compile(
    r"(?i)^\W*(?:(?:the|that|this|those|these)\s+(?:[^\W\d_][\w'’-]*\s+){0,3}ones?\s+"
    r"(?:is|are|was|['’]s|['’]re|seems?|looks?)\s+(?:fine|ok|okay|good|alright|all\s+right|"
    r"working|running\s+fine|healthy|unaffected)\b"
    r"|(?:the|that|this|those|these)\s+(?:[^\W\d_][\w'’-]*\s+){0,3}ones?\s+can\s+wait\b"
    r"|(?:leave|keep)\s+(?:the|that|this)\s+(?:[^\W\d_][\w'’-]*\s+){0,3}ones?\s+"
    r"(?:alone|as\s+(?:it\s+is|is)|running|be)\b)"
)


_MARKS = " \t\n.,;:!?-–—"
_ASKING = re.compile(
    r"(?i)\s*(?:are|is|was|were|do|does|did|has|have|had|what|which|who|whom|whose|where|when|"
    r"why|how|shall|should|isn['’]t|aren['’]t|doesn['’]t|didn['’]t)\b"
)


def affirmed(text: str) -> str:
    """The message as the reader acts on it: every negated clause and every question (not a
    polite request) blanked out, the same length as ``text``."""
    return _affirmed(text)


def _affirmed(text: str, questions: bool = False) -> str:
    """The message with every negated clause blanked out (same length, so nothing joins up),
    and every question too unless ``questions`` (they describe objects; they ask no action)."""
    kept: list[str] = []
    start = 0
    # A polite request carries to the end of its sentence: "Can you check, and if so ask him
    # for the invoice?" asks in its last clause too.
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    sentence_start = [0, *ends]
    polite, sentence = False, -1
    ends_at = [(m.end(), m.end() - m.start()) for m in _CLAUSE_END.finditer(text)]
    for cut, mark in [*ends_at, (len(text), 0)]:
        clause = text[start:cut]
        first = start + len(clause) - len(clause.lstrip())  # where its words begin
        at = next((n for n, end in enumerate(ends) if first < end), len(ends))
        if at != sentence:
            polite, sentence = False, at
        polite = polite or _POLITE.match(clause) is not None
        # "tell Ada that Chidi can't come": the negation is in what to say, not in the asking
        reported = _REPORTED.match(clause) or _SAYS.match(clause)
        judged = clause[: reported.end()] if reported else clause
        negated = _NEGATION.search(_NOT_NEGATIONS.sub(" ", judged)) is not None
        negated = negated or _excepts(clause) or _LEFT_ALONE.match(clause) is not None
        # a question split by a comma ("Are both HTTPS rules still public, by the way?"):
        # every clause of a sentence that opens as a question and ends with "?"
        asking = at < len(ends) and text[: ends[at]].rstrip().endswith("?")
        opens = _ASKING.match(text, sentence_start[at] if at < len(sentence_start) else 0)
        question = (clause.rstrip().endswith("?") or (asking and opens is not None)) and not polite
        if negated or (question and not questions):
            # blanked up to the mark that ends it: "merge the docs PR, not the refactor, jwu is
            # still on it" keeps its last comma, so the statement after it does not join the
            # instruction before it
            kept.append(" " * (len(clause) - mark) + clause[len(clause) - mark :])
        else:
            kept.append(clause)
        start = cut
    return "".join(kept)


# Where a sentence ends: its end mark (before a space or the end of the message), or a line.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n")
_BUT = re.compile(r"^\W*but\s+(\w+)", re.IGNORECASE)


def _excepts(clause: str) -> bool:
    """A clause "but X" where X is no verb and no subject names what is left out ("approve
    everything but the conference ticket"); "but leave him a note" and "but I think" do not."""
    found = _BUT.match(clause)
    if found is None:
        return False
    word = found.group(1).casefold()
    return word not in _VERBS and word not in _SUBJECTS and word not in ("please", "also")


def described_words(text: str) -> tuple[str, ...]:
    """The words a request describes its objects with, for binding listed records
    (``task:described``): as ``task:identifiers``, but when the request also asks for something,
    its questions are kept — "did Tom attach the receipt for the PyCon ticket? If not, leave him
    a comment" describes the PyCon expense. A request that is only a question ("did I share my
    grocery list?") binds nothing, and a question asks for no action either way (``asks``,
    ``mentions`` and the grants leave it out)."""
    asks = bool(instructions(text))
    return _unique(_identifiers(_affirmed(text[:MAX_TASK_CHARS], questions=asks)))[:_MAX_VALUES]


def _forms(raw: str) -> list[str]:
    plain = raw.replace(",", "").replace("'", "")
    try:
        number = float(plain)
    except ValueError:
        return []
    forms = [plain, repr(number), f"{number:.2f}"]
    if number.is_integer():
        forms.append(str(int(number)))
    return forms


def _host(url: str) -> str:
    rest = url.split("://", 1)[1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    return host.split(":", 1)[0].lower() if not host.startswith("[") else host.lower()


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


# --- instructions: which action each part of the request asks for, and on what -------------

ASKED = "task:asked"  # the request's instructions, as "verb: object words"
ASKED_IF = "task:asked-if"  # those of them given on a condition the agent judges ("if so, …")
# The values only such instructions typed, per tool (scoped): "Approve LV-3301. Approve LV-3307
# if Jonah's cover is sorted." asks approve_leave unconditionally, but LV-3307 only on the
# condition (session 22's probe of task plans)
ON_CONDITION = "task:on-condition"
# and those a message typed without a condition (a later one: "cover is sorted, approve
# LV-3307"), which are no longer asked about
ON_CONDITION_LIFTED = "task:on-condition-lifted"
EXCLUDED = "task:excluded"  # the words of negated clauses (records they describe are not bound)
DESCRIBED = "task:described"  # the words listed records are bound by (questions included)
# Records bound from a listing declared with "confirm" that the human has not confirmed yet, and
# those they have (an approved call naming them): see policy.session_policy.
UNCONFIRMED = "task:unconfirmed"
CONFIRMED = "task:confirmed"
# Of those, the words of the instructions' objects ("the plumber's contact"), and of the
# possessors in them ("plumber"): a record they describe is what the user meant before one
# only the rest of the request describes (``policy.task_binding``).
DESCRIBED_OBJECT = "task:described-object"
DESCRIBED_OWNER = "task:described-owner"

# Finer cuts inside an affirmed clause: where a second instruction can start.
_PIECE_END = re.compile(r"\s(?=(?:and|then|so|also|plus|as\s+well\s+as)\b)", re.IGNORECASE)
_ENDS_SENTENCE = re.compile(r"[.!?]\s*$")  # a clause that ends its sentence
_AS_LONG = re.compile(r"\b(?:as|so)\s+(?:long|soon)\s*$", re.IGNORECASE)
# A condition for the agent to judge: "if", "unless", "as long as", "provided (that)", "in
# case", "only when". ("When she comes round" is a time, not a judgement.)
_CONDITION = re.compile(
    r"\b(?:if|iff|unless|as\s+long\s+as|so\s+long\s+as|provided|providing|in\s+case"
    r"|only\s+when|assuming|supposing|in\s+the\s+event|given\s+that|on\s+condition"
    r"|as\s+soon\s+as|depending\s+on|once)\b",
    re.IGNORECASE,
)


def condition_in(text: str) -> bool:
    """Whether ``text`` states a condition for the agent to judge ("if she has", "unless it is
    public") or a time it judges from what it reads ("after Mia approves it")."""
    return bool(_CONDITION.search(text) or _TIME_CONDITION.search(text))


# A time the agent judges from what it reads: "when", "after", "until" (and a leading "where")
# before a subject and its verb ("when the trip plan is final", "after Mia approves it",
# "wait until the invoice arrives", "after legal signs off", "after Mia sent the dates"). Not
# a time of the clock or calendar ("after Thursday's meeting", "until Monday": no verb; "after
# the meeting ends", "when Monday comes", "after the weekend is over": a verb of time passing),
# nor the agent's own progress ("when you're done"), nor "before" (what comes first is done now,
# but "not before" waits), nor the user's own ("by the time I land").
_PASSING = (
    r"(?:ends?|ended|starts?|started|begins?|began|comes?|came|pass(?:es|ed)?|closes?|closed"
    r"|opens?|opened|(?:is|are|was|were|'s|’s)\s+over)\b"
)
_VERB = (
    rf"(?!{_PASSING})"
    r"(?:is|are|was|were|has|have|had|does|do|did|can|could|will|would|gets?|got"
    r"|says?|said|hears?|heard|arrive|finish|reply|answer|agree|approve|confirm|sign|pay"
    r"|send|say|return|sent|wrote|written|gave|given|made|paid|told|brought|took|taken|went"
    r"|left|saw|seen|found|won|lost|\w+(?:s|ed))\b"
)
_SUBJECT_VERB = (
    # a pronoun and the word after it ("when they arrive", "after it's final")
    r"(?:(?:it|he|she|they|we|i|there|someone|somebody|anyone|everyone|everybody|nobody)"
    rf"(?:['’](?:s|re|ve|ll|m|d)\b(?!\s+over\b)|\s+(?!{_PASSING})[^\W\d_][\w'’-]*)"
    # a noun phrase, a name or one word and a verb ("the trip plan is final", "Mia approves
    # it", "till jwu is done", "after legal signs off")
    r"|(?:(?:the|a|an|his|her|their|our|my|its|this|that|these|those)\s+(?:[\w'’-]+\s+){0,3}?"
    r"[\w'’-]+|(?-i:[A-Z][\w’-]*)(?:\s+(?-i:[A-Z][\w’-]*))?|(?!(?:you|the|a|an|his|her|their|our|my|its|this|that|these|those)\b)"
    r"[^\W\d_][\w'’-]*)"
    r"\s+" + _VERB + r")"
)
_TIME = (
    r"(?:when|whenever|after|until|till|not\s+before|by\s+the\s+time(?!\s+(?:i|we)\b)"
    r"|the\s+(?:moment|minute|instant|second))"
)
# or a state with no subject: "when final", "after approved", "when ready"
_STATE = r"(?:[^\W\d_]+ed|ready|final|complete|available|official|settled|through)\b"
# or an event someone else decides, said as a noun: "after her approval", "upon Mia's sign-off",
# "pending the client's go-ahead", "post-approval", "once green-lit" (not "after her review":
# a raise "after her review" says which raise)
_DECIDED = (
    r"(?:approval|sign-?off|go-?ahead|confirmation|consent|agreement|okay|ok|green[- ]light"
    r"|reply|answer|response)\b"
)
_EVENT = (
    r"(?:after|upon|following|pending|until|till|once|when|subject\s+to)\s+"
    r"(?:(?:the|a|an|his|her|their|its|my|our|your|[^\W\d_][\w-]*['’]s)\s+)?(?:[\w'’-]+\s+)?"
    + _DECIDED
    + r"|post-?"
    + _DECIDED
)
_TIME_CONDITION = re.compile(
    rf"\b(?:{_TIME}\s+(?:{_SUBJECT_VERB}|{_STATE}|green-lit)|{_EVENT})", re.IGNORECASE
)
_TIME_OPENING = re.compile(
    rf"^\W*(?:(?:wait\s+)?(?:{_TIME}|where|wherever)\s+(?:{_SUBJECT_VERB}|{_STATE}|green-lit)"
    rf"|{_EVENT})",
    re.IGNORECASE,
)
# "Should the plan be final, share it": a clause that starts with "should" and a subject
_SHOULD = re.compile(r"^\W*should\s+(?:the|it|he|she|they|this|that|there)\b", re.IGNORECASE)
# a clause's leading words before its condition: "but only if", "and if", "(if"
_LEADING = re.compile(r"^[\W_]*(?:(?:but|and|or|so|then|only)\s+)*", re.IGNORECASE)
# Words a piece may start with before its verb: politeness, sequence, "I want you to".
_FILLER = re.compile(
    # (not the "+" of a number a piece starts with: "…: Lucia Fernandez, +49 151 2345 6789")
    r"^(?:(?!\+\d)\W|and\b|as\s+well\s+as\b|then\b|so\b|also\b|plus\b|but\b|please\b|pls\b"
    r"|kindly\b|just\b|now\b"
    r"|only\b|simply\b|quickly\b"
    r"|first\b|if\s+(?:so|yes|(?:it|he|she|they)\s+(?:is|are|has|have|does|do|did))\b"
    r"|next\b|finally\b|afterwards\b|after\s+that\b|go\s+ahead(?:\s+and)?\b|help\s+me\b"
    r"|(?:can|could|would|will)\s+(?:you|u)\b|you\s+(?:should|can|may|must)\b"
    r"|i(?:['’]d|\s+would)\s+like\s+(?:you\s+)?to\b|i\s+(?:want|need)\s+(?:you\s+)?to\b"
    r"|let['’]?s\b)\s*",
    re.IGNORECASE,
)
# A piece that starts with a subject states something; it asks for nothing.
_SUBJECTS = frozenset(
    [
        "i",
        "i'm",
        "i’m",
        "i've",
        "i’ve",
        "i'll",
        "i’ll",
        "i'd",
        "i’d",
        "we",
        "we're",
        "we’re",
        "you",
        "you're",
        "you’re",
        "he",
        "he's",
        "he’s",
        "she",
        "she's",
        "she’s",
        "it",
        "it's",
        "it’s",
        "they",
        "they're",
        "they’re",
        "this",
        "that",
        "these",
        "those",
        "there",
        "there's",
        "there’s",
        "which",
        "who",
        "what",
    ]
)
# "DE75… is the scam account", "Bob was paid already": a one-word subject, then a form of
# "to be" or "to have", states something.
_COPULAS = frozenset(
    [
        "is",
        "isn't",
        "isn’t",
        "are",
        "aren't",
        "aren’t",
        "was",
        "wasn't",
        "wasn’t",
        "were",
        "weren't",
        "weren’t",
        "has",
        "hasn't",
        "hasn’t",
        "have",
        "haven't",
        "haven’t",
    ]
)
# Where an instruction's object ends: the first preposition or subordinating word after it.
_OBJECT_END = frozenset(
    [
        "know",
        "from",
        "in",
        "on",
        "into",
        "onto",
        "to",
        "with",
        "for",
        "at",
        "by",
        "about",
        "via",
        "under",
        "over",
        "within",
        "without",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "so",
        "because",
        "as",
        "until",
        "before",
        "after",
        "since",
        "if",
        "whether",
        "when",
        "where",
        "while",
        "than",
        "like",
        "per",
    ]
)
# Common English verbs a request starts with, besides the policy's own ``asks`` verbs: a piece
# starting with one is an instruction of its own (it does not continue the one before). Words
# that are more often nouns at the start of a piece ("water", "mail", "book") are left out.
_VERBS = frozenset(
    [
        "accept",
        "add",
        "answer",
        "apply",
        "approve",
        "archive",
        "arrange",
        "ask",
        "assign",
        "attach",
        "block",
        "book",
        "buy",
        "call",
        "cancel",
        "change",
        "check",
        "choose",
        "clean",
        "clear",
        "close",
        "comment",
        "compare",
        "confirm",
        "copy",
        "count",
        "create",
        "decline",
        "delete",
        "describe",
        "disable",
        "do",
        "download",
        "draft",
        "drop",
        "edit",
        "email",
        "enable",
        "explain",
        "export",
        "fetch",
        "file",
        "fill",
        "find",
        "finish",
        "fix",
        "follow",
        "forward",
        "get",
        "give",
        "go",
        "grant",
        "help",
        "hide",
        "import",
        "invite",
        "join",
        "keep",
        "label",
        "leave",
        "let",
        "list",
        "load",
        "lock",
        "look",
        "make",
        "mark",
        "merge",
        "message",
        "move",
        "mute",
        "note",
        "notify",
        "open",
        "order",
        "organize",
        "pay",
        "pick",
        "pin",
        "plan",
        "post",
        "prepare",
        "print",
        "publish",
        "pull",
        "push",
        "put",
        "read",
        "rebase",
        "receive",
        "record",
        "refund",
        "reject",
        "release",
        "reload",
        "remind",
        "remove",
        "rename",
        "renew",
        "reopen",
        "reply",
        "report",
        "request",
        "reschedule",
        "reset",
        "resolve",
        "restore",
        "retry",
        "return",
        "review",
        "revoke",
        "run",
        "save",
        "schedule",
        "search",
        "see",
        "select",
        "sell",
        "send",
        "set",
        "settle",
        "share",
        "show",
        "sign",
        "skip",
        "snooze",
        "sort",
        "star",
        "start",
        "stop",
        "submit",
        "subscribe",
        "summarize",
        "summarise",
        "suggest",
        "switch",
        "sync",
        "tag",
        "take",
        "tell",
        "test",
        "thank",
        "track",
        "transfer",
        "translate",
        "trash",
        "try",
        "turn",
        "unarchive",
        "unblock",
        "undo",
        "unfollow",
        "unlock",
        "unmute",
        "unpin",
        "unshare",
        "unstar",
        "unsubscribe",
        "update",
        "upload",
        "use",
        "verify",
        "view",
        "wait",
        "warn",
        "watch",
        "withdraw",
        "write",
    ]
)
_WORD = re.compile(r"[^\s\"'`<>()\[\]{},;!?:]+")
# Verbs of saying: what follows their "that" is the message, not its addressee.
_SAYING = frozenset((
    "tell", "message", "text", "say", "write", "reply", "remind", "inform", "email", "notify",
    "warn", "answer", "ask", "let",
))  # fmt: skip
_SAID = re.compile(r"(.*?)\s(?:that|:)\s", re.IGNORECASE)
# "his PyCon ticket can wait", "jwu will take over", "journalists need to download from it": a
# modal (or "need", "want") within a subject's first words.
# "…, his internship ended": a past tense
_PAST = re.compile(r"[^\W\d_]{2,}ed", re.IGNORECASE)
# and the irregular ones ("Jonah's moving day leave came in too": a statement, not one more
# leave to approve; session 23's probe), but not those that are also imperatives ("set", "put",
# "read", "cut", "let") or adjectives ("left", "paid")
_PAST_IRREGULAR = frozenset((
    "came", "went", "got", "sent", "took", "made", "gave", "wrote", "said", "told", "found",
    "bought", "brought", "kept", "held", "ran", "began", "broke", "chose", "drove", "fell",
    "felt", "forgot", "heard", "knew", "lost", "met", "saw", "sold", "spent", "stood", "thought",
    "understood", "won", "did", "became", "flew", "grew", "hid", "rang", "rose", "sat", "slept",
    "spoke", "stole", "swam", "taught", "threw", "woke", "wore",
))  # fmt: skip


def _past(word: str) -> bool:
    return _PAST.fullmatch(word) is not None or word.casefold() in _PAST_IRREGULAR


# "his handle is bkowalczyk", "the username is mira-t": a clause naming the object by a value
_IDENTITY = re.compile(
    r"^\W*\w+\s+(?:[\w-]+\s+){0,2}?(?:handle|username|user\s*name|login|user|id|account"
    r"|email|e-mail|address|number|name)\s+(?:is|was|['’]s)\s+(?P<value>[^\s,;]+)",
    re.IGNORECASE,
)
# A clause about the object before it: "his internship is over", "the internship is over"
_CLAUSE_OPENERS = frozenset(
    ("his", "her", "their", "its", "my", "our", "your", "the", "this", "that", "these", "those")
)
_DEMONSTRATIVES = frozenset(("that", "this", "these", "those"))
_CONTRACTED = frozenset(("s", "ll", "d", "re", "ve", "m"))  # "that's", "that'll"
_MODALS = frozenset((
    "can", "can't", "can’t", "cannot", "will", "won't", "won’t", "would", "should", "shouldn't",
    "must", "may", "might", "shall", "could", "needs", "need", "want", "wants",
))  # fmt: skip


# Verbs that say how something is, after its name: "X stays", "X waits", "X goes to 69,750".
_STATING = frozenset(
    (
        "stays", "waits", "remains", "goes", "needs", "looks", "seems", "keeps", "stands",
        "belongs", "means", "holds", "sits", "counts", "matters", "lives", "works",
        "wants", "knows", "says", "thinks", "hopes", "plans", "prefers", "agrees", "disagrees",
    )
)  # fmt: skip


def _statement(words: list[str], verb: bool) -> bool:
    """A piece that states something instead of asking: it starts with a pronoun subject; or
    one word and then a form of "be"/"have" ("DE75… is the scam account"); or, not starting
    with a verb, a modal among its first four words ("the parser refactor can wait") or a
    past-tense second word ("pkovacs recommended her")."""
    first = words[0].strip(_TRIM).casefold()
    lowered = [w.casefold() for w in words[1:4]]
    if first in _DEMONSTRATIVES and len(words) > 1 and not verb:
        # "block the prize notifications and that garden centre newsletter": a demonstrative
        # before a noun names one more object; before a verb it is a subject ("that one is
        # Tom's", "that's fine", "this looks wrong", "those were paid")
        return (
            any(w in _COPULAS or w in _MODALS or w in _CONTRACTED or _past(w) for w in lowered)
            or any(w.endswith("s") and len(w) > 3 for w in lowered[:-1])
            or len(words) > 5
        )
    if first in _SUBJECTS or (lowered[:1] and lowered[0] in _COPULAS):
        return True
    if verb:
        return False
    if any(w in _MODALS for w in lowered):
        return True
    if lowered[:1] and lowered[0] in _STATING and not first.endswith(("'s", "’s")):
        # "LV-3307 stays pending", "Kofi waits until Monday": a name or an id and a verb that
        # says how it is (session 22's probe: "Approve LV-3301. LV-3307 stays pending" read
        # LV-3307 as one more leave to approve)
        return first not in _DETERMINERS and first not in _QUANTIFIERS
    return (
        bool(lowered)
        and len(lowered[0]) > 4
        and lowered[0].endswith("ed")
        and lowered[0] not in ("hundred", "shed", "bed", "need", "speed", "seed", "feed")
    )


class Instruction(NamedTuple):
    """One instruction of the request: its verb, its object's words and its whole text."""

    verb: str
    object: tuple[str, ...]
    text: str
    # What came before it since the previous instruction began, when its object points back
    # ("pay him back", "delete it"): records it names are described there ("approve Luis's
    # charger and pay him back").
    context: str = ""
    # Given on a condition the agent is to judge ("if she has, approve it", "merge it as long
    # as CI is green"): whether to act is left to what the agent reads.
    conditional: bool = False
    # The pieces its objects were listed in ("merge 412 and 424": 2; "approve Tom's arm, Luis's
    # charger and Aisha's hotel": 3): a piece that continues it with an object of its own.
    parts: int = 1
    # Those pieces as written, when there are several (the first starts with the verb)
    pieces: tuple[str, ...] = ()
    # A note the instruction before it is to be done with ("close Omar's PR with a short note
    # explaining why"): asks to comment on the same object, which it counts no second time
    attached: bool = False
    # From a task plan (policy.task_plan): the tool the plan gave this part of the request to,
    # and that tool's ``askedBy``. It then fits those entries only, whatever its verb.
    tool: str = ""
    planned: tuple[str, ...] = ()
    # From a task plan's ``about``: other words of the request naming what the planned part
    # acts on ("approve it", about "Jonah's moving day leave"). They describe its records and
    # nothing else: no value typed in them is the tool's.
    about: str = ""

    def one_by_one(self) -> tuple[Instruction, ...]:
        """The instruction once per object it lists, each with that object alone ("approve
        Tom's monitor arm and Luis's charger": approve Tom's monitor arm; approve Luis's
        charger), for binding each object's record by its own words."""
        if not self.pieces:
            return (self,)
        first, *later = self.pieces
        typed = first.split()
        verb, said = typed[0].strip(_TRIM).casefold(), " ".join(typed[: len(self.verb.split())])
        split = [_instruction(verb, first, self.context, self.conditional)]
        split += [_instruction(verb, f"{said} {piece}", "", self.conditional) for piece in later]
        if self.planned:
            split = [i._replace(tool=self.tool, planned=self.planned) for i in split]
        return tuple(split)

    def pointed(self) -> tuple[str, ...]:
        """When the object points back ("remove it", "pay him back"), the words of what it
        points back to (its context), else none."""
        if not self.context:
            return ()
        words = _unique(w.strip(_TRIM).casefold() for w in _WORD.findall(self.context))
        return words[:_MAX_POINTED_WORDS]

    def asked(self) -> str:
        """``"verb: object words"``, and after a ``|`` the words an object pointing back points
        to: an ``asks`` entry naming a thing ("remov* rule*") fits "the SSH rule for his home
        IP is stale. Can you remove it?" (``fits``)."""
        if self.planned:
            return planned_value(self.tool, self.planned, self.text)
        pointed = self.pointed()
        tail = f" | {' '.join(pointed)}" if pointed else ""
        return f"{self.verb}: {' '.join(self.object)}".rstrip() + tail

    def fits(self, asks: Iterable[str]) -> bool:
        """Whether one of the ``asks`` entries fits this instruction, its object read with
        what it points back to; a planned one, whether they share an entry with its tool's
        ``askedBy``."""
        if self.planned:
            return _shares_entry(asks, self.planned)
        return asks_any(asks, self.verb, (*self.object, *self.pointed()))


# A ``task:asked`` value for a part of the request a task plan gave to a tool:
# "<MARK>plan<MARK>server/tool<MARK>askedBy entries joined by |<MARK>the quote". The mark is a
# control character, which is white space to the reader: no value read from the user's words
# can start with it.
PLANNED_MARK = "\x1f"


def planned_value(tool: str, asked_by: Iterable[str], quote: str) -> str:
    return PLANNED_MARK.join(("", "plan", tool, "|".join(asked_by), quote))


def planned_parts(value: str) -> tuple[str, tuple[str, ...], str] | None:
    """(tool, its askedBy entries, the quote) of a planned ``task:asked`` value, else None."""
    if not value.startswith(PLANNED_MARK):
        return None
    parts = value.split(PLANNED_MARK)
    if len(parts) != 5 or parts[1] != "plan":
        return None
    return parts[2], tuple(e for e in parts[3].split("|") if e), parts[4]


def _shares_entry(asks: Iterable[str], entries: Iterable[str]) -> bool:
    return bool({a.casefold() for a in asks} & {e.casefold() for e in entries})


def instructions(text: str, verbs: Iterable[str] = ()) -> tuple[Instruction, ...]:
    """The request's instructions, in order (negated clauses and questions left out, as for
    the grants). ``verbs``: the policy's ``asks`` verb patterns (``delet*``), which also start
    an instruction."""
    patterns = tuple(v.casefold() for v in verbs)
    found: list[Instruction] = []
    current: list[str] | None = None  # [verb, text, what came before] being read
    before = ""
    head = text[:MAX_TASK_CHARS]
    # A clause that starts with a condition ("If not, …", "If she has, approve it") sets it for
    # the instructions of the rest of its sentence; one inside a piece ("merge it as long as CI
    # is green") only for the instruction that piece belongs to, and not when that one says
    # something: "tell his parents he can resubmit if he wants to" is what to say.
    leading = False
    last = ""  # the clause before, as written
    after_question = False
    for clause, question, written in _clauses_and_questions(head):
        opening = written[_LEADING.match(written).end() :]
        if question:
            leading = False
        elif (
            _CONDITION.match(opening)
            or _TIME_OPENING.match(opening)
            or _SHOULD.match(written)
            # "Is it final? Then share it": the answer to the question decides
            or (after_question and re.match(r"\W*then\b", written, re.IGNORECASE))
        ):
            leading = True
        after_question = question or written.rstrip().endswith("?")
        # "as long as" is cut in two at its second "as", which starts a clause of its own
        spanning = bool(_AS_LONG.search(last)) and written.lstrip().lower().startswith("as ")
        last = written
        for number, piece in enumerate(_PIECE_END.split(clause)):
            inner = (
                _CONDITION.search(piece) is not None
                or _TIME_CONDITION.search(piece) is not None
                or (spanning and number == 0)
            )
            piece = _FILLER.sub("", piece.strip())
            while (shorter := _FILLER.sub("", piece)) != piece:
                piece = shorter
            words = _WORD.findall(piece)
            if not words:
                continue
            if question:  # asks for nothing; an object pointing back may refer to it
                before = f"{before} {piece}"
                continue
            says = _SAYS.match(piece) is not None  # "Marco told me he didn't get it": his
            # "Mr Okafor asked me to remind …": someone else's request, passed on; the user may
            # go on to refuse it ("…, which I won't"), so acting on it is the user's call
            # (and "sneha-r asked to be taken off the repo": her wish, passed on)
            passed_on = (
                _ASKED_ME.match(piece) is not None or _TO_BE_REMOVED.match(piece) is not None
            )
            if not says and (reworded := _reworded(piece, patterns)):
                piece, words = reworded, _WORD.findall(reworded)
            first = words[0].strip(_TRIM).casefold()
            second = words[1].casefold() if len(words) > 1 else ""
            verb = (
                first in _VERBS
                or first in _ALSO
                or _phrase([w.strip(_TRIM).casefold() for w in words[:4]]) > 1
                or any(_matches(p, first) for p in patterns)
            )
            # What an object pointing back ("approve it") may refer to: everything since the
            # instruction before it began ("check whether Sunita has cover; if she has, …").
            statement = says or _statement(words, verb)
            previous = before
            # what an object pointing back may refer to starts again at an instruction, unless
            # that one names no object of its own ("the logo guy sent a quote. Can you check,
            # and if so ask him for an invoice?": "him" is the logo guy)
            # or it points back itself ("Tom says he claimed a monitor arm. Check there's a
            # receipt on it and OK it if so": the second "it" is the monitor arm too)
            restart = verb and not statement and _object_of(piece, _OBJECT_END)
            if restart and any(w.casefold() in _POINTING_BACK for w in words[1:]):
                restart = False
            before = piece if restart else f"{before} {piece}"
            if statement or (verb and second == "me"):
                # A statement ("his PyCon ticket can wait"), or the user asking to be told or
                # given something ("send me the details", "let me know if…"): no action, no
                # values, and the instruction before it ends here.
                if current is not None:
                    # "Pay the power bill; I mean the December one": what the statement points
                    # at with "one" still describes the instruction's object; not when it says
                    # something else of it ("The ARM one is fine": the one not to touch)
                    for pointing in _POINTED.finditer(piece) if _naming(piece) else ():
                        current[1] += " " + pointing.group(0)
                    found.append(_instruction(*current[:6]))
                current = None
                continue
            if verb:
                if current is not None:
                    found.append(_instruction(*current[:6]))
                said = _SAID.match(piece) if first in _SAYING else None
                on_condition = leading or (inner and first not in _SAYING) or passed_on
                if said:  # "tell Ada that X is a scam": X is what to say, not whom to reach
                    found.append(_instruction(first, said.group(1), previous, on_condition))
                    current = None
                else:
                    current = [first, piece, previous, on_condition, 1, [piece], []]
            elif current is not None:
                # A possessive (or an article) and its noun before a form of "be"/"have" says
                # something about the object ("remove bkowalczyk, his internship is over"; "…,
                # his email is tom@…"): its values go with the instruction, its words are not
                # more of what to act on (a username "over"): the object ends before it.
                said = words[0].casefold() in _CLAUSE_OPENERS and any(
                    w.casefold() in _COPULAS or _past(w) for w in words[2:6]
                )
                if said and (named := _IDENTITY.match(piece)):
                    # "remove our former intern, his handle is bkowalczyk": what the clause
                    # names the object by is the object
                    current[1] += " " + named.group("value")
                if not said and words[0].casefold() in _DEMONSTRATIVES:
                    # "… and that garden centre newsletter": one more object ("that" would end
                    # the object as a clause opener: "tell him that …")
                    piece = piece.split(None, 1)[1] if len(piece.split(None, 1)) > 1 else piece
                # only a piece joined by "and"/"plus" lists one more ("merge 412 and 424");
                # one after a comma or a dash adds details ("Submit an expense for 23.80 -
                # parking at the Lisbon offsite, category travel": one expense)
                if not said and _another_object(words):
                    if number > 0 or _JOINED.match(written) or _NAMES_ONE.match(piece):
                        # "merge 412 and 424": one more object, and any listed before it
                        # after a comma ("the hotel, the train and the taxi")
                        current[4] += 1 + len(current[6])
                        current[5].extend([*current[6], piece])
                        current[6].clear()
                    else:
                        current[6].append(piece)  # a list's, if an "and" follows
                current[1] += ("; " if said else " ") + piece
                if inner and current[0] not in _SAYING:
                    current[3] = True
        if (
            not leading
            and current is not None
            and current[0] not in _SAYING
            and _CONDITION.search(written)
        ):
            # "Share it but not if it is still a draft": a condition the affirmed text lost
            # with its negation, in a clause that goes on the instruction before it
            current[3] = True
        if _ENDS_SENTENCE.search(written):
            leading = False
    if current is not None:
        found.append(_instruction(*current[:6]))
    return tuple(_with_notes(found))


# "close it with a short note explaining why", "reject it with a comment": a note written on
# the instruction's object
_WITH_NOTE = re.compile(
    r"\bwith\s+(?:a|an|some)\s+(?:(?!commit\b)[^\W\d_][\w'’-]*\s+){0,2}?"
    # (not "with a short commit message", "with a line in the changelog")
    r"(?P<note>note|comment|message|reply|line|explanation)\b(?!\s+(?:in|into|to|for|of)\b)",
    re.IGNORECASE,
)


def _with_notes(found: list[Instruction]) -> Iterator[Instruction]:
    """The instructions, each followed by the note it is to be done with, if any."""
    for item in found:
        yield item
        note = _WITH_NOTE.search(item.text)
        if note and item.verb not in _NOTE_VERBS and item.verb not in _SAYING:
            words = ("a", note["note"].casefold())
            yield item._replace(verb="leave", object=words, parts=1, pieces=(), attached=True)


# "Sofia's Weimar essay gets an A-", "Lukas gets full marks": the user says what someone is to
# get, an instruction to give it (read as "give Sofia's Weimar essay an A-"). Only with a value
# after it (an article, a grade, a number): "Tomás gets back tomorrow" states something.
_GETS = re.compile(
    r"^(?P<who>[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,5}?)\s+gets?\s+"
    r"(?P<what>(?:(?:an?|the|full|top)\s|[A-F][+-]?(?![\w+-])|\d"
    # "hugo-b gets write", "Mei gets read-only": an access level
    r"|(?:read|write|admin|maintain|triage|viewer|editor|owner|billing|read-only)(?![\w-])).*)$",
    re.DOTALL,
)
# "I've got two receipts from Lisbon to claim", "we have three invoices to pay": the user says
# what they have to do, an instruction (read as "claim two receipts from Lisbon").
_HAVE_TO = re.compile(
    r"^(?:i|we)(?:['’]ve|\s+have)?\s+(?:got|have)\s+(?P<what>\S.*?)\s+to\s+"
    r"(?P<verb>[^\W\d_]+)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


# "Would you mind declining …", "do you mind sending …": the verb as a gerund.
_MIND = re.compile(
    r"^(?:(?:would|do)\s+(?:you|u)\s+)?mind\s+(?P<gerund>[^\W\d_]{4,}ing)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# "Mr Okafor asked me to remind …", "Mia wants me to share …": a request the user passes on
# (the user's own words; only a verb the lexicon or the policy knows starts it).
_ASKED_ME = re.compile(
    r"^(?P<who>[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,3}?)\s+"
    r"(?:asked|wants|wanted|needs|needed|would\s+like)\s+(?:me|us)\s+to\s+"
    r"(?P<verb>[^\W\d_]+)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


# "his work card can go", "Lena's branch for it can be deleted": what the user says may go is
# to be deleted (read as "delete his work card"). Only a thing named with an article, a
# demonstrative or a possessive, and nothing after but "too", "as well" (and "now" after "be
# deleted"): "Tom can go", "her leave can go ahead", "it can go on next month's claim" and
# "the source pack can go now" (out to the class) say something else.
_CAN_GO = re.compile(
    r"^(?P<what>(?:the|that|this|these|those|his|her|their|my|our|its|[^\W\d_][\w.-]*['’]s)"
    r"\s+[^\W\d_].{0,80}?)\s+(?:can|could|should|may)\s+"
    r"(?:go|(?:now\s+)?be\s+(?:deleted|removed|binned|scrapped|trashed|discarded|dropped)"
    r"(?:\s+now)?)(?:\s+(?:too|as\s+well|for\s+good))?\W*$",
    re.IGNORECASE | re.DOTALL,
)


# "push them to Friday 3 April", "move the quiz to the 27th": to a day, to postpone it (not
# "push it to main", "move it to the archive")
_DAY_WORD = (
    rf"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)\b"
    rf"|\d{{1,2}}\.?\s+(?:{_MONTH})\b|(?:{_MONTH})\.?\s+\d{{1,2}}\b|next\s+week\b"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}\b)"
)
_TO_A_DAY = re.compile(
    rf"^(?:push|move|shift)\s+(?P<what>.+?)\s+(?:back\s+)?(?:to|till|until)\s+(?P<when>{_DAY_WORD}.*)$",
    re.IGNORECASE | re.DOTALL,
)
# "sneha-r asked to be taken off the repo", "Tom wants to be removed from the list": remove them
_TO_BE_REMOVED = re.compile(
    r"^(?P<who>[^\W\d_][\w'’.@-]*(?:\s+[^\W\d_][\w'’.-]*){0,2}?)\s+(?:has\s+)?"
    r"(?:asked|wants|wanted|would\s+like)\s+to\s+be\s+(?:taken\s+off|removed|deleted|dropped"
    r"|unsubscribed|offboarded)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# What a person or a thing is taken off or out of, for that to remove it: the place a tool keeps
# them ("take jwu off the review", "take staging-api off the public internet" remove nothing)
_CONTAINERS = frozenset(
    ("repo", "repository", "org", "organisation", "organization", "project", "team", "contacts",
     "list", "address", "book", "addressbook", "channel", "group", "roster", "account")
)  # fmt: skip
# "bin it", "bin them" ("bin" before a noun is as often a noun: "Bin day is Tuesday")
_BIN_IT = re.compile(
    r"^bin\s+(?P<what>(?:it|them|that|this|those|these)\b.*)$", re.IGNORECASE | re.DOTALL
)
# "new expense pls: standing desk, …": a request for a new record of that kind
_NEW_PLEASE = re.compile(
    r"^new\s+(?P<what>[^\W\d_][\w-]*)\s+(?:pls|please|plz)\b\W*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


# "nobody outside the core team gets admin", "everyone gets a B": a rule stated, nobody given
_NOBODY = frozenset(
    ("nobody", "no", "noone", "everyone", "everybody", "anyone", "anybody", "only", "outside",
     "none", "each", "all", "every", "whoever")
)  # fmt: skip
_NOT_ACTS = frozenset(("leaving", "letting", "keeping", "holding", "waiting", "not"))


def _from_gerund(gerund: str, patterns: tuple[str, ...]) -> str | None:
    """The verb of a gerund ("declining" decline, "stopping" stop, "sending" send), when the
    lexicon or the policy knows it."""
    stem = gerund[:-3]
    tries = [stem[:-1]] if len(stem) > 2 and stem[-1] == stem[-2] else []  # "stopping"
    tries += [stem + "e", stem]
    for verb in tries:  # the lexicon's word first, then one the policy's patterns take
        if verb in _VERBS or verb in _ALSO:
            return verb
    return next((v for v in tries if any(_matches(p, v) for p in patterns)), None)


def _off_a_container(rest: str) -> bool:
    """Whether what follows "taken off" / "removed" names the place a tool keeps people or
    records in ("the repo", "from my contacts"; nothing after: the tool's own)."""
    place = [w.strip(_TRIM).casefold() for w in _WORD.findall(rest.split(",")[0])][:5]
    return not place or any(_is_container(w) for w in place)


def _is_container(word: str) -> bool:
    """A word (case-folded) naming a place a tool keeps people or records in (_CONTAINERS)."""
    return word in _CONTAINERS or word.rstrip("s") in _CONTAINERS


def _reworded(piece: str, patterns: tuple[str, ...]) -> str | None:
    """An instruction a piece makes without starting with its verb, as the imperative it
    means (``_GETS``, ``_HAVE_TO``); None for any other piece."""
    if found := _GETS.match(piece):
        who = [w.casefold() for w in found["who"].split()]
        if who[0] not in _SUBJECTS and not any(
            w in _OBJECT_END or w in _MODALS or w in _COPULAS or w in _NOBODY for w in who
        ):
            return f"give {found['who']} {found['what']}"
        return None
    if found := _TO_A_DAY.match(piece):
        what = [w.strip(_TRIM).casefold() for w in _WORD.findall(found["what"])]
        # only what has a day to move: a deadline, a due date, or what the user pointed back
        # to ("push them to Friday"); not "shift my marking of the essays to Friday"
        if what[0] in _POINTING or any(w.startswith(("deadline", "due")) for w in what):
            return f"postpone {found['what']} to {found['when']}"
        return None
    if found := _TO_BE_REMOVED.match(piece):
        if found["who"].split()[0].casefold() in _SUBJECTS or not _off_a_container(found["rest"]):
            return None  # "I asked to be removed": the user's own; "… off the rota": no tool's
        return f"remove {found['who']}{found['rest']}"
    if found := _BIN_IT.match(piece):
        return f"delete {found['what']}"
    if found := _NEW_PLEASE.match(piece):
        return f"add new {found['what']} {found['rest']}"
    if found := _CAN_GO.match(piece):
        return f"delete {found['what']}"
    if found := _MIND.match(piece):
        # "would you mind declining Marta's Porto trip": decline it (not "leaving it alone",
        # "letting him know", "keeping", "waiting": no act on the object)
        if found["gerund"].casefold() in _NOT_ACTS:
            return None
        verb = _from_gerund(found["gerund"].casefold(), patterns)
        return f"{verb} {found['rest']}" if verb else None
    if found := _ASKED_ME.match(piece):
        # "Mr Okafor asked me to remind Paul's parents …": the user passes the request on (an
        # instruction given on a condition: the human is asked, see instructions)
        verb = found["verb"].casefold()
        if verb in _VERBS or verb in _ALSO or any(_matches(p, verb) for p in patterns):
            return f"{found['verb']}{found['rest']}"
        return None
    if found := _HAVE_TO.match(piece):
        verb = found["verb"].casefold()
        if found["what"].split()[0].casefold() in ("nothing", "no", "none"):
            return None  # "I have nothing to hide"
        if verb in _VERBS or verb in _ALSO or any(_matches(p, verb) for p in patterns):
            return f"{found['verb']} {found['what']}{found['rest']}"
    return None


def _clauses_and_questions(text: str) -> list[tuple[str, bool, str]]:
    """The affirmed clauses in order, questions included and marked (a question is context
    for an object that points back — "has Sunita found cover? If so, approve it" — never an
    instruction), each with the clause as written (negations not blanked: "If not, …")."""
    plain, asked = _affirmed(text), _affirmed(text, questions=True)
    out = []
    start = 0
    for cut in [*(m.end() for m in _CLAUSE_END.finditer(asked)), len(asked)]:
        clause = asked[start:cut]
        if clause.strip():
            # a question: blanked in ``plain`` but for the mark that ends it ("?", ",")
            # (a negated clause is blank in both: "If not, ")
            question = not plain[start:cut].strip(_MARKS) and bool(clause.strip(_MARKS))
            out.append((clause, question, text[start:cut]))
        elif (
            out
            and (blanked := _WORD.findall(text[start:cut]))
            and blanked[0].casefold() not in _SUBJECTS
        ):
            # a negated clause, blanked ("but not if it is still a draft"): its words as written
            # go with the clause before (a condition in it still conditions that instruction:
            # "Approve it. But not if the receipt is missing."), unless it is a statement of
            # its own ("shut down their VM. We'll delete it once the client confirms they don't
            # need it" conditions no shutting down)
            out[-1] = (*out[-1][:2], out[-1][2] + text[start:cut])
        start = cut
    return out


# The pronouns by which an instruction speaks of something named before it; an object may
# also start with a demonstrative ("that one"), which elsewhere in a piece starts a clause.
_POINTING_BACK = frozenset(("it", "its", "him", "his", "her", "hers", "them", "their"))
_POINTING = _POINTING_BACK | {"this", "that", "these", "those"}


def _another_object(words: list[str]) -> bool:
    """Whether a piece continuing an instruction names one more object ("… and 424", "…, Luis's
    charger"), not more of the same one ("the one from Hamburg", "that one") or no object
    ("well within the limit", "please")."""
    lowered = [w.strip(_TRIM).casefold() for w in words]
    if lowered[0] in _NOT_AN_OBJECT or {"one", "ones"} & set(lowered[:4]):
        return False
    if re.fullmatch(r"\d+[.,]\d+", lowered[0]) or lowered[0] in _CURRENCIES:
        return False  # ", 264.00 to DE44 …": the amount and account of the object before
    # (a bare whole number names something: "merge 412 and 424"; a sum of money does not)
    money = any(w in _CURRENCIES for w in lowered) or any("." in w for w in lowered)
    named = [
        w for w in lowered if w not in _NO_OBJECT_WORDS and not (money and _AMOUNT.fullmatch(w))
    ]
    if not named or lowered[:2] in (["the", w] for w in _WHICH):
        # "and thanks!", ", cheers", "and nothing else", ", 64.99 euros"; an apposition that
        # says which of them ("…, the first leg"): no object of its own
        return False
    # "…, Tom's team is presenting there": a clause (a verb in it), not one more object
    return not any(w in _COPULAS or w in _MODALS or _past(w) for w in lowered[1:6])


def _instruction(
    verb: str,
    text: str,
    before: str = "",
    conditional: bool = False,
    parts: int = 1,
    pieces: list[str] | None = None,
) -> Instruction:
    words = [w.strip(_TRIM).casefold() for w in _WORD.findall(text)]
    size = _phrase(words)
    if size > 1:  # "put in an expense", "sign off the invoice", "get rid of the entry"
        verb = " ".join(words[:size])
        rest = text.split(None, size - 1)
        text = rest[-1] if len(rest) == size else ""
    obj = _object_of(text.partition(";")[0], _OBJECT_END)  # "…,; his internship is over"
    # "decline that one (not her August holiday)": "that" ends an object, but "that one" points
    # back as "it" does
    after = [w.strip(_TRIM).casefold() for w in _WORD.findall(text)[1:3]]
    that_one = len(after) == 2 and after[0] in ("that", "this") and after[1] in ("one", "ones")
    context = before if (obj and obj[0] in _POINTING) or that_one else ""
    listed = tuple(pieces) if pieces and len(pieces) > 1 else ()
    return Instruction(verb, obj, text, context, conditional, parts, listed)


def _object_of(text: str, ends: frozenset[str], relative: bool = False) -> tuple[str, ...]:
    """The words after an instruction's verb up to the first of ``ends``, case-folded; with
    ``relative``, a relative clause whose verb follows its pronoun ("the bill that is due in
    December", "the VM which was stopped") goes on describing the object (a "that" clause with
    a subject of its own, "comment that a fix is in review", ends it)."""
    found: list[str] = []
    words = [w.strip(_TRIM).casefold() for w in _WORD.findall(text)[1:]]
    for at, word in enumerate(words):
        if word in ends:
            following = words[at + 1] if at + 1 < len(words) else ""
            if relative and word in _RELATIVE and following in _RELATIVE_VERBS:
                continue
            break
        if word:
            found.append(word)
    return tuple(found)


# A relative pronoun followed by the verb of its clause: the clause describes the object.
_RELATIVE = frozenset(("that", "which", "who"))
_RELATIVE_VERBS = frozenset(
    ("is", "are", "was", "were", "has", "have", "had", "isn't", "wasn't", "hasn't", "got", "came")
)


def parse_asked(values: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``task:asked`` values back as (verb, object words and what the object points to)."""
    out = []
    for value in values:
        verb, _, rest = value.partition(":")
        out.append((verb.strip(), tuple(w for w in rest.split() if w != "|")))
    return out


def ask_matches(ask: str, verb: str, obj: tuple[str, ...]) -> bool:
    """Whether an ``asks`` entry ("delete" or "delete album", each word a pattern with an
    optional trailing ``*``; an object word also matches its plural) fits an instruction."""
    parts = ask.casefold().split()
    if not parts or not any(_matches(parts[0], v) for v in (verb, *_also(verb, obj))):
        return False
    return all(any(_matches(p, w) for w in obj) for p in parts[1:])


# A verb that asks for what another verb names: "resend the payslips" asks to send them, "put
# in an expense" to submit one, "sign off the invoice" to approve it, "scrap my draft" to delete
# it, "get in touch with Sofia's parents" to message them. Only senses a request leaves no doubt
# about: "drop" (a table, or a line?), "clear" (empty, or approve?; "clear out" is empty), "kill"
# (stop, or delete?)
# and "bump" (raise what?) ask only for themselves; and none that more often starts a piece as a
# noun ("Bin day is Tuesday", "Contact details are in my notes", "Delay on the line"), which
# would then be read as an instruction. The user's words alone are read this way;
# a policy's own ``asks`` entries are matched as written.
_DELETE = ("delete", "remove", "discard", "trash")
_MESSAGE = ("message", "tell", "contact", "write", "email", "notify")
_POSTPONE = ("extend", "postpone", "delay", "reschedule")
# Thanking, reminding, warning or congratulating someone is writing to them.
_SAY_TO = (*_MESSAGE, "comment", "reply")
_ALSO = {
    "thank": _SAY_TO,
    "ask": _SAY_TO,
    "remind": _SAY_TO,
    "warn": _SAY_TO,
    "congratulate": _SAY_TO,
    "clear out": _DELETE,
    "resend": ("send",),
    "re-send": ("send",),
    "put in": ("submit", "file", "add", "enter", "claim"),
    "sign off": ("approve", "accept", "ok"),
    "greenlight": ("approve", "accept", "ok"),
    "scrap": _DELETE,
    "ditch": _DELETE,
    "erase": _DELETE,
    "nuke": _DELETE,
    "discard": _DELETE,
    "trash": _DELETE,
    "get rid of": _DELETE,
    "throw away": _DELETE,
    "throw out": _DELETE,
    "get in touch": _MESSAGE,
    "get in touch with": _MESSAGE,
    "reach out": _MESSAGE,
    "reach out to": _MESSAGE,
    "ping": _MESSAGE,
    "postpone": _POSTPONE,
}
# Verbs of more than one word: the instruction's verb is the whole phrase, its object what
# follows ("get rid of the entry": "get rid of", the entry).
_PHRASAL = frozenset(
    (
        ("put", "in"),
        ("clear", "out"),
        ("sign", "off"),
        ("get", "rid", "of"),
        ("throw", "away"),
        ("throw", "out"),
        ("get", "in", "touch", "with"),
        ("get", "in", "touch"),
        ("reach", "out", "to"),
        ("reach", "out"),
    )
)
# A verb whose object starts with a particle that gives it another sense: "push back the
# deadline", "move the deadline back" ask to postpone it.
_ALSO_WITH = {("push", "back"): _POSTPONE, ("move", "back"): _POSTPONE}


def _phrase(words: list[str]) -> int:
    """How many of ``words`` (case-folded) make one verb of ``_PHRASAL``; 1 when none does."""
    for size in (4, 3, 2):
        if tuple(words[:size]) in _PHRASAL:
            return size
    return 1


# "leave him a note", "drop her a line", "post a comment", "send him a thank-you": asks to
# comment, note, message
_NOTES = frozenset(
    ("note", "comment", "message", "reply", "line", "thank-you", "thanks", "reminder", "heads-up")
)
_NOTE_VERBS = frozenset(("leave", "drop", "post", "write", "add", "send"))


_AMEND = frozenset(("change", "update", "correct", "fix", "amend", "edit", "adjust", "set"))
# nouns of what someone does to a thing: changing one is doing it again
_ACTS_ON = frozenset(("grade", "mark", "score", "rating", "comment", "note", "reply", "review"))


def _also(verb: str, obj: tuple[str, ...]) -> tuple[str, ...]:
    """What else the instruction's verb asks for (see _ALSO), with its object: "leave him a
    note" asks to comment, note, message or reply."""
    found = _ALSO.get(verb, ())
    for (phrasal, particle), senses in _ALSO_WITH.items():
        if verb == phrasal and particle in obj[:4]:
            found = (*found, *senses)
    if verb in _AMEND:
        # "change his grade to a B-", "fix the mark on Mia's essay": what is changed is what
        # its noun does
        named = list(takewhile(lambda w: w not in ("on", "of", "for", "in", "to", "at"), obj))
        if named and named[-1] in _ACTS_ON:
            found = (*found, named[-1])
    if verb == "take" and _taken_off_a_container(obj):
        found = (*found, *_DELETE)
    if verb in _NOTE_VERBS and any(_matches(n, w) for n in _NOTES for w in obj):
        found = (*found, "comment", "note", "message", "reply")
    return found


def _taken_off_a_container(obj: tuple[str, ...]) -> bool:
    """ "take caio-dev off the repo", "take the newsletter out of my contacts": off or out of the
    place a tool keeps them (not "take Friday off": a day off; not "take 10% off the invoice":
    a discount; not "take jwu off the review")."""
    taken = takewhile(lambda w: w not in ("off", "out"), obj)
    if any(any(c.isdigit() for c in w) or w in ("percent", "some", "half") for w in taken):
        return False
    return any(
        ((w == "off" and nxt in _DETERMINERS) or (w == "out" and nxt == "of"))
        and any(_is_container(p) for p in obj[at + 1 : at + 5])
        for at, (w, nxt) in enumerate(pairwise(obj))
    )


def _matches(pattern: str, word: str) -> bool:
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    return word == pattern or word == pattern + "s" or word == pattern + "es"


def excluded_words(text: str) -> tuple[str, ...]:
    """The words of the request's negated clauses ("except staging-db", "leave the SSO one
    open", "not 10C's"): a listed record described by one of them (and not by the request's
    other words) is one the user ruled out, and is not bound (``task:excluded``)."""
    head = text[:MAX_TASK_CHARS]
    kept = _affirmed(head, questions=True)
    negated = "".join(o if k == " " else " " for o, k in zip(head, kept, strict=True))
    return _unique(_identifiers(negated))[:_MAX_VALUES]


def asks_any(asks: Iterable[str], verb: str, obj: tuple[str, ...]) -> bool:
    """Whether one of the ``asks`` entries fits an instruction (``ask_matches``)."""
    return any(ask_matches(ask, verb, obj) for ask in asks)


def asked_in(asks: Iterable[str], asked: Iterable[str]) -> bool:
    """Whether one of the ``asks`` entries fits one of a request's ``task:asked`` values: what
    a task condition's ``asks`` and a tool's ``askedBy`` both ask of the request."""
    wanted, read = tuple(asks), []
    for value in asked:
        planned = planned_parts(value)
        if planned is None:
            read.append(value)
        elif _shares_entry(wanted, planned[1]):
            return True
    return any(asks_any(wanted, verb, obj) for verb, obj in parse_asked(read))


def part_words(part: Instruction) -> tuple[str, ...]:
    """The words one object of an instruction (``Instruction.one_by_one``) is described by: its
    own piece, and for an object pointing back, what it points back to."""
    return _unique(_identifiers(f"{part.about} {part.context} {part.text}"))[:_MAX_VALUES]


def scoped_described(items: Iterable[Instruction], asks: Iterable[str]) -> tuple[str, ...]:
    """The words records are bound by for the instructions (of ``instructions``) that ``asks``
    accepts: those instructions' words and, for one whose object points back ("… and pay him
    back", "did Tom attach the receipt? If not, leave him a comment"), what came since the
    instruction before it began, questions included; never the words of another instruction,
    or of a question no instruction points back to."""
    wanted = tuple(asks)
    texts = [f"{i.about} {i.context} {i.text}" for i in items if i.fits(wanted)]
    return _unique(_identifiers(" ".join(texts)))[:_MAX_VALUES] if texts else ()


# Where the words describing an instruction's object end, for binding records: as
# ``_OBJECT_END``, but a phrase that says which one ("the note about the party", "the receipt
# for the PyCon ticket", "the invoice from Acme") still describes it; one that says to whom,
# as what, when or why ("with Grace", "to say …", "as a C") does not.
_DESCRIPTION_END = _OBJECT_END - {
    "from",
    "in",
    "on",
    "for",
    "at",
    "about",
    "under",
    "over",
    "within",
}
# Words before a possessor in an object ("the plumber's", "my sister's"): not the possessor.
_DETERMINERS = frozenset(("the", "a", "an", "my", "our", "your", "this", "that", "and", "or"))


def object_words(
    items: Iterable[Instruction], asks: Iterable[str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The possessors and the object words of the instructions ``asks`` accepts (all of them
    when None). A possessor is kept with the last word of its object, as ``"noah>analysis"``
    and ``"fischer>analysis"`` for "mark noah fischer's peasants revolt analysis": it names
    the record only when the listing does not list that kind of thing ("Mia's birthday note"
    names a note, not Mia). An instruction whose object points back ("tell his parents",
    "delete it") takes the object of the instruction before it as well, when its context is
    that instruction, else its context's words (a question: "has Sunita found cover? If so,
    approve it")."""
    wanted = None if asks is None else tuple(asks)
    listed = list(items)
    owners: list[str] = []
    objects: list[str] = []
    for index, item in enumerate(listed):
        if wanted is not None and not item.fits(wanted):
            continue
        parts = [_described_object(item.text)]
        if item.context:
            before = listed[index - 1] if index else None
            if before is not None and before.text.strip() in item.context:
                parts.insert(0, _described_object(before.text))
            else:
                parts.insert(0, tuple(w.casefold() for w in _WORD.findall(item.context)))
        if item.about:
            parts.insert(0, tuple(w.casefold() for w in _WORD.findall(item.about)))
        for obj in parts:
            objects.extend(obj)
            owners.extend(_possessors(obj))
        objects.extend(_pointed(item.text))
    # an article describes nothing, and as a value it is a grade: "give it a B+" granted "a",
    # which a case-blind comparison took for the grade A (round 17, attacker J3)
    objects = [w for w in objects if w not in _ARTICLES]
    return _unique(owners)[:_MAX_VALUES], _unique(objects)[:_MAX_VALUES]


_ARTICLES = frozenset(("a", "an", "the"))


# "the December one", "that old one", "the one for the conference": a phrase that points at the
# instruction's object by other words, in an afterthought ("Pay the power bill. The December
# one.") as well as in the object itself.
_POINTED = re.compile(
    r"(?i)\b(?:the|that|this)\s+((?:[^\W\d_][\w'-]*\s+){1,3})ones?\b"
    r"|\bthe\s+ones?\s+(?:from|for|in|of|dated|about|called|named|with|at|on)\s+"
    r"((?:the\s+)?[^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*){0,2})"
)


# A statement that says which one the object is: "I mean the December one", "it's the old
# one", "that's the one from March", or the phrase alone ("The December one.").
_NAMING = re.compile(
    r"(?i)^\W*(?:(?:i|we)\s+(?:mean|meant)\b|(?:it|that)(?:['’]s|\s+is|\s+was)\b"
    r"|namely\b|specifically\b)"
)


def _naming(piece: str) -> bool:
    if _NAMING.match(piece):
        return True
    bare = _POINTED.sub(" ", piece)
    return not re.sub(r"[\W_]+", "", bare)  # nothing but the phrase pointing with "one"


def _pointed(text: str) -> tuple[str, ...]:
    """The words of the phrases in ``text`` that point at its object with "one"."""
    words: list[str] = []
    for match in _POINTED.finditer(text):
        phrase = match.group(1) or match.group(2) or ""
        words.extend(w.casefold() for w in _WORD.findall(phrase))
    return tuple(words)


def _described_object(text: str) -> tuple[str, ...]:
    """An instruction's object words as far as they describe it (``_DESCRIPTION_END``), within
    its first sentence (what follows it, "His email is …", says something else)."""
    return _object_of(_first_sentence(text), _DESCRIPTION_END, relative=True)


def _first_sentence(text: str) -> str:
    return re.split(r"[.?!;](?:\s|$)", text, maxsplit=1)[0]


def _possessors(obj: tuple[str, ...]) -> list[str]:
    """Each possessor of an object with what it possesses, as ``"possessor>head"``: the words
    before an "'s" back to a determiner or the one before, and the last word of the noun after
    it (up to a preposition): ``noah>analysis`` and ``fischer>analysis`` for "noah fischer's
    peasants revolt analysis as a C", ``mia>note`` for "Mia's note about the party",
    ``marta>leave`` and ``jonah>leave`` for "Marta's and Jonah's leave"."""
    # (possessors, the noun after their 's, or None when another possessor follows: "Marta's
    # and Jonah's leave", read with or without its "and")
    groups: list[tuple[list[str], list[str] | None]] = []
    run: list[str] = []
    for index, word in enumerate(obj):
        if word == "s" and run:
            noun: list[str] | None = []
            for after in obj[index + 1 :]:
                if after == "s":
                    noun = None
                    break
                if after in _OBJECT_END:
                    break
                noun.append(after)
            groups.append((run, noun))
            run = []
        elif word in _DETERMINERS:
            run = []
        else:
            run.append(word)
    found: list[str] = []
    head = ""
    for possessors, noun in reversed(groups):
        if noun is not None:
            head = noun[-1] if noun else ""
        found[:0] = [f"{possessor}>{head}" for possessor in possessors]
    return found


# Words that say an instruction's objects are all of a kind, however many: no count caps them.
_EVERY = frozenset(
    ("all", "every", "everything", "each", "everyone", "everybody", "any", "anything")
)
_NUMBER_WORDS = {
    "both": 2, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple": 2, "pair": 2,
}  # fmt: skip
_PLURAL_POINTING = frozenset(("them", "these", "those", "they"))
_POINTING_ONE = frozenset(("it", "him", "her", "this", "that"))
# A piece continuing an instruction that starts so adds no object: a preposition or an adverb
# ("well within the 1,500 limit", "please", "asap"), a conjunction left over.
_NOT_AN_OBJECT = frozenset(("well", "please", "asap", "too", "as", "also", "just", "now", "then"))
_CURRENCIES = frozenset(("euro", "euros", "eur", "dollars", "usd", "pounds", "gbp", "cents"))
# Words that name no object of their own: courtesy, sign-offs, "nothing else", currencies.
_NO_OBJECT_WORDS = frozenset((
    "thanks", "thank", "you", "cheers", "ta", "thx", "please", "pls", "nothing", "else", "none",
    "no", "not", "of", "the", "others", "other", "rest", "more", "that", "s", "it", "all", "for",
    "now", "today", "asap",
    "bye", "best", "regards", "x", "xx", "ok", "okay", "great", "lovely", "much", "lot",
    "a", "an", "and", "or", "both", "either", "neither",
)) | _CURRENCIES  # fmt: skip
# A piece after a comma that starts with a name or an id names one more object ("Lukas Meyer
# gets an A, Emma Schulz a B", "approve exp-2041, exp-2042"), where lower-case words add
# details of the one before ("…, category travel", "- parking at the Lisbon offsite").
_NAMES_ONE = re.compile(r"^\W*(?:[A-Z][a-z]+(?:['’]s)?\b(?!@)|#?[\w-]*\d[\w-]*\b(?![.,]\d))")
_JOINED = re.compile(r"(?i)^\W*(?:and|plus|&|as\s+well\s+as)\b")  # ", and Luis's charger"
_IN_BOTH = re.compile(r"(?i)\b(?:from|to|in|on|for|with)\s+both\b(?!\s+of\s+(?:us|you)\b)")
_QUANTIFIERS = frozenset(("both", "all", "them", "these", "those", "each", "every", "everything"))
_WHICH = ("first", "second", "third", "last", "other", "same", "older", "newer", "earlier", "later")


def objects_asked(items: Iterable[Instruction], asks: Iterable[str] | None = None) -> str:
    """How many objects the instructions name (those an ``asks`` scope accepts; None: all of
    them), as ``task:objects`` keeps it: a count, or ``"all"``. Each instruction names its
    pieces' objects ("merge 412 and 424": 2), at least the number its object says ("both",
    "two claims", "the three drafts"); "all", "every", "each", "any", a plural object without a
    number ("approve the hotel claims", "clear out my drafts") or one pointing back to several
    ("approve them") name all of a kind. An object pointing back ("approve them") reads the
    number in what it points to ("Both of Aisha's train tickets look fine, approve them")."""
    wanted = tuple(asks) if asks is not None else None
    items = tuple(items)
    total = 0
    counted: set[str] = set()  # planned parts' text: one part given to two tools is one object
    read: set[str] | None = None  # the values the reader's own instructions typed
    reader_asks = False  # and whether one of them (not a note on another) asks for the tool
    for item in items:
        if (wanted is not None and not item.fits(wanted)) or item.attached:
            continue
        if item.planned:
            if item.text in counted:
                continue
            counted.add(item.text)
            if read is None:
                reader = [o for o in items if not o.planned and (wanted is None or o.fits(wanted))]
                read = set().union(*(_typed_values(o.text) for o in reader))
                reader_asks = any(not o.attached for o in reader)
            if reader_asks and not _typed_values(item.text) - read:
                # a planned part beside the reader's own instructions for the tool counts only
                # when it types an id or a value they do not ("whichever one Jonas says is
                # unused" is no second VM to delete)
                continue
        words = [w for w in item.object if w not in ("the", "my", "our", "of")]
        if total and words and words[0] in _POINTING_ONE:
            continue  # "Grade Lukas's essay - give it a B+": the same object again
        if words and (words[0] in _PLURAL_POINTING or words == ["both", "them"]):
            words = [*words, *item.pointed()]
        if any(w in _EVERY for w in words):
            return ALL_OBJECTS
        parts = item.parts
        split = item.one_by_one()
        if len(split) > 1 and set(split[0].object) <= _QUANTIFIERS:
            parts -= 1  # "Reimburse both: the hotel and the charger": two, not three
        said = [_NUMBER_WORDS.get(w, 0) for w in words]
        said += [int(w) for w, nxt in pairwise(words) if w.isdigit() and len(w) < 3
                 and _plural(nxt)]  # fmt: skip
        # "delete it from both classes", "send it to both of them": the object in two places
        # (not "on behalf of both of us", "both legs were booked together")
        said += [2 for _ in _IN_BOTH.finditer(item.text)]
        count = max([parts, *said])
        head = [w for w in split[0].object if w not in _NO_OBJECT_WORDS and w not in _CURRENCIES]
        if not any(said) and (
            (words and words[0] in _PLURAL_POINTING) or (head and _plural(head[-1]))
        ):
            return ALL_OBJECTS  # "approve them", "clear out my drafts": however many there are
        total += count
    return str(max(total, 1))


def _an_id(word: str) -> bool:
    """Whether a word-like value names one thing (an id: "#417", "LV-3307"), not a word."""
    return any(c.isdigit() for c in word)


def _typed_values(text: str) -> set[str]:
    """The values a piece of the request types that name one thing: amounts, addresses, URLs,
    dates and months, and identifiers with a digit in them (ids, not words)."""
    values: set[str] = set()
    for name, found in _grants(text).items():
        if name in _WORD_LISTS:
            found = tuple(v for v in found if _an_id(v))
        values.update(f"{name}={v.casefold()}" for v in found)
    return values


def _plural(word: str) -> bool:
    """A rough plural: "claims", "drafts", "notifications"; not "his", "status", "class"."""
    return (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "'s", "’s"))
        and word not in _NOT_PLURAL
    )


_NOT_PLURAL = frozenset(("news", "series", "species", "always", "perhaps", "yes", "thanks"))


_WORD_LISTS = frozenset(("task:identifiers", "task:domains"))


def _distinct(name: str, values: Iterable[str]) -> set[str]:
    """The values of a list that differ (an amount's forms, 66250 and 66250.00, are one; so are
    an id's, #417 and 417)."""
    if name != "task:amounts":
        return {v.lstrip("#@") for v in values}
    out = set()
    for value in values:
        try:
            out.add(str(Decimal(value).normalize()))
        except ArithmeticError:
            out.add(value)
    return out


def scoped_grants(
    items: Iterable[Instruction], asks: Iterable[str], today: date | None = None
) -> dict[str, tuple[str, ...]]:
    """The ``task:*`` values of the instructions (of ``instructions``) that an ``asks`` condition
    accepts: what a rule with that condition may allow (values the user typed for another
    action are not in it)."""
    wanted, items = tuple(asks), tuple(items)
    merged: dict[str, list[str]] = {}
    typed: dict[str, set[str]] | None = None  # the values the instructions' own words hold
    for item in items:
        if not item.fits(wanted):
            continue
        for name, values in _grants(item.text, today).items():
            merged.setdefault(name, []).extend(values)
        if item.context:
            # "Sunita's new salary is 66,250 from next month - please update it": the values of
            # what the object points back to are its own, unless an instruction typed them
            # ("approve Luis's charger for 64.99 and pay him back": the amount is the approval's
            # as much as the payment's, and stays with the instruction it was typed in)
            if typed is None:
                typed = {}
                for other in items:
                    for name, values in _grants(other.text, today).items():
                        typed.setdefault(name, set()).update(values)
            for name, values in _grants(item.context, today).items():
                theirs = typed.get(name, set())
                left = [v for v in values if v not in theirs]
                if name in _WORD_LISTS:
                    # not a word ("jwu has admin, so set him to triage": every word is an
                    # identifier), but an id ("CI is green on #417, so would you merge it?")
                    left = [v for v in left if _an_id(v)]
                # one value of its kind: "was 58,000 … new one is 66,250" (two amounts) does
                # not say which
                if len(_distinct(name, left)) == 1:
                    merged.setdefault(name, []).extend(left)
    return {name: _unique(values)[:_MAX_VALUES] for name, values in merged.items() if values}
