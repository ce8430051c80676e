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
sentence ends, semicolons, line breaks, ", " and the words "but", "except", "instead of",
"rather than") and a clause holding a negation ("not", "n't", "never", "no", "nor", "without",
"except", "instead of", "rather than", "other than") or an exclusion ("leave" — not "leave a
…" —, "keep", "skip", "spare", "ignore", "exclude", "hold off", "apart from") grants nothing —
"pay Bob, not Mallory", "do not send anything to mallory@evil.example" and "close the CI issue,
leave the SSO one open" grant no Mallory and no SSO. A question ("did I pay the internet
bill?") grants nothing either, unless it is a polite request ("could you pay it?"). Idioms
that negate nothing ("don't forget", "not only", "no later than", "no more than"...) do not
count. A clause wrongly read as negated only withholds a grant (the call is then asked or
refused, never allowed because of it), so the cut errs on the side of granting less.

A rule then grants by list: ``{"lists": [{"roles": ["recipient"], "allowed":
["@task:identifiers"], "matchType": "identifiers"}]}``, and a value the user never typed falls
through to the next rule (a deny, or a question).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["GRANT_LISTS", "MAX_TASK_CHARS", "describe_grants", "task_grants"]

# the lists a message fills, in the order task_grants() returns them
GRANT_LISTS = tuple(
    f"task:{name}" for name in ("emails", "urls", "domains", "amounts", "paths", "identifiers")
)
MAX_TASK_CHARS = 20_000  # a longer message is granted from its first part only
_MAX_VALUES = 200  # per list
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'`]+")
_DOMAIN = re.compile(r"(?<![@\w.-])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
_AMOUNT = re.compile(r"(?<![\w.])\d{1,3}(?:[,']\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?")
_PATH = re.compile(r"(?<![\w:/])(?:~/|/)[^\s\"'`<>,;]+")
_TOKEN = re.compile(r"[^\s\"'`<>()\[\]{},;!?]+")
_TRIM = ".:*_"
_GROUPED = re.compile(r"(?:[A-Z]{2}\d{2}|\+\d{1,3})(?: \d{2,4}){2,}(?: [0-9A-Z]{1,4})?")


# Clause boundaries: where one instruction ends and another begins. A URL, an e-mail, "1,250"
# and "84.20" hold no whitespace after their punctuation, so they are never cut.
_CLAUSE_END = re.compile(
    r"(?<!\bno)(?<!\bNo)(?<!\bNO)[.!?;:](?=\s)|\n|,\s|\s(?=(?:but|except|instead\s+of|rather\s+than|other\s+than)\b)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|never|no|nor|without|except|excluding|instead\s+of|rather\s+than|other\s+than)\b"
    r"|n't\b|n’t\b"
    # exclusions written without a negation word: "leave the SSO one open", "keep the album",
    # "hold off on the disputed bill" ("leave a comment" leaves nothing out)
    r"|\bleave\b(?!\s+(?:a|an)\b)|\b(?:keep|skip|spare|ignore|exclude)\b|\bhold\s+off\b"
    r"|\bapart\s+from\b",
    re.IGNORECASE,
)
# A question asks for information, not for an action ("did I pay the internet bill?", "is the
# issue resolved?"): it grants nothing, unless it is a polite request ("could you pay it?").
_POLITE = re.compile(r"^\W*(?:please\b|(?:can|could|would|will)\s+(?:you|u)\b)", re.IGNORECASE)
# Phrases built on a negation word that negate nothing the clause names.
_NOT_NEGATIONS = re.compile(
    r"\b(?:don['’]t|do\s+not|never)\s+forget\b|\bnot\s+only\b|\bno\s+(?:later|sooner|earlier)\s+than\b"
    r"|\bno\s+more\s+than\b|\bno\s+less\s+than\b|\bno\s+problem\b|\bno\s+matter\b"
    r"|\bno\.?\s*(?=\d)",  # "invoice no. 4711": a number, not a negation
    re.IGNORECASE,
)


def task_grants(text: str) -> dict[str, tuple[str, ...]]:
    """``task:*`` lists from the user's message; lists with nothing found are left out."""
    text = _affirmed(text[:MAX_TASK_CHARS])
    urls = _unique(u.rstrip(".,:;!?)") for u in _URL.findall(text))
    without_urls = _URL.sub(" ", text)
    emails = _unique(e.lower() for e in _EMAIL.findall(without_urls))
    without_emails = _EMAIL.sub(" ", without_urls)
    paths = _unique(p.rstrip(".:!?") for p in _PATH.findall(without_emails))
    bare = _PATH.sub(" ", without_emails)  # "rent.pdf" in a path is not a domain
    domains = _unique([*(_host(u) for u in urls), *(d.lower() for d in _DOMAIN.findall(bare))])
    amounts = _unique(form for raw in _AMOUNT.findall(without_urls) for form in _forms(raw))
    identifiers = _unique(_identifiers(text))
    found = (emails, urls, tuple(d for d in domains if d), amounts, paths, identifiers)
    named = zip(GRANT_LISTS, found, strict=True)
    return {name: values[:_MAX_VALUES] for name, values in named if values}


def describe_grants(grants: Mapping[str, tuple[str, ...]]) -> str:
    """One line for the terminal: what the task grants, by list."""
    if not grants:
        return "task grants: none (nothing in the request names a value)"
    parts = []
    for name, values in grants.items():
        shown = ", ".join(values[:6]) + (f", … (+{len(values) - 6})" if len(values) > 6 else "")
        parts.append(f"{name.removeprefix('task:')}: {shown}")
    return "task grants: " + "; ".join(parts)


def _identifiers(text: str) -> list[str]:
    found: list[str] = []
    for raw in _TOKEN.findall(text):
        token = raw.strip(_TRIM)
        if len(token) < 2:
            continue
        found.append(token)
        if token[0] in "@#" and len(token) > 2:
            found.append(token[1:])
        if token.endswith("'s"):
            found.append(token[:-2])
    # An IBAN or phone number written in groups ("DE89 3704 0044") is also granted joined up.
    for group in _GROUPED.findall(text):
        found.append(group.replace(" ", ""))
    return found


def _affirmed(text: str) -> str:
    """The message with every negated clause blanked out (same length, so nothing joins up)."""
    kept: list[str] = []
    start = 0
    for cut in [*(m.end() for m in _CLAUSE_END.finditer(text)), len(text)]:
        clause = text[start:cut]
        negated = _NEGATION.search(_NOT_NEGATIONS.sub(" ", clause)) is not None
        question = clause.rstrip().endswith("?") and not _POLITE.match(clause)
        kept.append(" " * len(clause) if negated or question else clause)
        start = cut
    return "".join(kept)


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
