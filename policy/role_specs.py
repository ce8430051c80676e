"""Argument roles as data: what a role's values are, and how rules compare them.

A role is named in ``tool-annotations.json``'s top-level ``"roles"`` object (beside
``"servers"``) with a ``kind`` (``path`` | ``url`` | ``identifier`` | ``number`` | ``text`` |
``opaque``), how its values ``match``, whether the sandbox discharges it (``sandboxSafe``, paths
only) and, for ``text`` roles, what to ``extract`` (``urls`` | ``emails`` | ``phones`` |
``ibans``): the URLs, e-mail addresses, phone numbers or IBANs found in the text become the values
the rules judge, so a domain rule sees where a message body links to, and a provenance rule sees
a number to call or an account to pay that came from someone else's text. The built-in roles are
entries of the same table (:data:`BUILTIN_ROLES`), so the engine asks the table, never a
hard-coded list, what a role is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policy.facts import ValueKind

__all__ = [
    "BUILTIN_ROLES",
    "ROLE_NAME",
    "RoleSpec",
    "RoleTable",
    "extract_emails",
    "extract_ibans",
    "extract_numbers",
    "extract_phones",
    "extract_urls",
    "without_numbers",
]

Kind = Literal["path", "url", "identifier", "number", "text", "opaque"]
Match = Literal["exact", "case-insensitive", "glob", "domain", "cidr", "range"]
ROLE_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_DEFAULT_MATCH: dict[str, Match | None] = {
    "path": None,  # path containment, always
    "url": "domain",
    "identifier": "exact",
    "number": "range",
    "text": None,
    "opaque": None,
}
_ALLOWED_MATCH: dict[str, frozenset[str]] = {
    "path": frozenset(),
    "url": frozenset({"domain", "cidr"}),
    "identifier": frozenset({"exact", "case-insensitive", "glob"}),
    "number": frozenset({"range"}),
    "text": frozenset(),
    "opaque": frozenset(),
}


class RoleSpec(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", validate_by_alias=True)

    kind: Kind
    match: Match | None = None
    description: str = ""
    sandbox_safe: bool = Field(default=False, alias="sandboxSafe")
    extract: Literal["urls", "emails", "phones", "ibans"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RoleSpec:
        if self.match is not None and self.match not in _ALLOWED_MATCH[self.kind]:
            allowed = sorted(_ALLOWED_MATCH[self.kind]) or ["(none)"]
            raise ValueError(f"match {self.match!r} does not fit kind {self.kind!r}: {allowed}")
        if self.sandbox_safe and self.kind != "path":
            raise ValueError("sandboxSafe applies only to roles of kind 'path'")
        if self.extract is not None and self.kind != "text":
            raise ValueError("extract applies only to roles of kind 'text'")
        return self

    @property
    def effective_match(self) -> Match | None:
        return self.match if self.match is not None else _DEFAULT_MATCH[self.kind]


def _spec(kind: Kind, description: str, **extra: object) -> RoleSpec:
    return RoleSpec.model_validate({"kind": kind, "description": description, **extra})


BUILTIN_ROLES: Mapping[str, RoleSpec] = {
    "read-path": _spec("path", "a file or folder the tool reads", sandboxSafe=True),
    "write-path": _spec("path", "a file or folder the tool writes", sandboxSafe=True),
    "delete-path": _spec("path", "a file or folder the tool deletes", sandboxSafe=True),
    "write-history": _spec("path", "a repository whose history the tool rewrites"),
    "delete-history": _spec("path", "a repository whose history the tool discards"),
    "fetch-url": _spec("url", "a URL the tool fetches"),
    "git-remote-url": _spec("url", "a git remote the tool contacts"),
    # compared as written, as IronCurtain does (A5); a rule may say "match": "folded"
    "github-owner": _spec("identifier", "a GitHub user or organisation", match="exact"),
    "github-repo": _spec("identifier", "a GitHub repository", match="exact"),
    # IronCurtain judges neither (not resource identifiers): opaque, never a default deny (A1)
    "branch-name": _spec("opaque", "a git branch or tag name"),
    "commit-message": _spec("opaque", "a commit message"),
    "text-urls": _spec("text", "the URLs found in a free text", extract="urls"),
    "text-emails": _spec("text", "the e-mail addresses found in a free text", extract="emails"),
    "text-phones": _spec("text", "the phone numbers found in a free text", extract="phones"),
    "text-ibans": _spec("text", "the IBANs (bank accounts) found in a free text", extract="ibans"),
    "none": _spec("opaque", "no security meaning"),
}


def _shipped_defaults() -> dict[str, RoleSpec]:
    """Declared roles every policy has (``policy/declared_roles.json``: IronCurtain's extra
    roles), so its annotation files load as they are; a policy may declare them differently."""
    from policy.role_defaults import default_declared_roles

    return {name: RoleSpec.model_validate(spec) for name, spec in default_declared_roles().items()}


_VALUE_KINDS: dict[str | None, ValueKind] = {
    "urls": "url",
    "emails": "email",
    "phones": "identifier",
    "ibans": "identifier",
}


class RoleTable:
    """The built-in roles, the shipped declared defaults and a policy's own declared roles,
    with the sets the engine asks about."""

    def __init__(self, declared: Mapping[str, RoleSpec] | None = None) -> None:
        declared = dict(declared or {})
        clash = sorted(set(declared) & set(BUILTIN_ROLES))
        if clash:
            raise ValueError(f"role {clash[0]!r} is built in and cannot be declared again")
        self.specs: dict[str, RoleSpec] = {**BUILTIN_ROLES, **_shipped_defaults(), **declared}
        kinds = {name: spec.kind for name, spec in self.specs.items()}
        self.path_roles = frozenset(n for n, k in kinds.items() if k == "path")
        self.sandbox_roles = frozenset(n for n, s in self.specs.items() if s.sandbox_safe)
        # Roles whose values are URLs: declared url roles and text roles extracting URLs.
        self.url_roles = frozenset(
            n for n, s in self.specs.items() if s.kind == "url" or s.extract == "urls"
        )
        self.number_roles = frozenset(n for n, k in kinds.items() if k == "number")
        # Values nothing judges: opaque roles and text roles that extract nothing.
        self.opaque_roles = frozenset(
            n
            for n, s in self.specs.items()
            if s.kind == "opaque" or (s.kind == "text" and not s.extract)
        )
        self.extracting = {n: s.extract for n, s in self.specs.items() if s.extract is not None}
        # role -> what each of its values is (policy.facts.ValueKind): the spec's kind, except
        # that a text role that extracts yields one URL, address, or (as an identifier) phone
        # number or IBAN a value
        self.value_kinds: dict[str, ValueKind] = {
            n: _VALUE_KINDS.get(s.extract, s.kind) for n, s in self.specs.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)


# The servers the appliance ships, whose roles are fixed and reviewed with their code (the
# compiler's SERVER_ROLES): an argument they give no role (a file's content) is data by design.
SHIPPED_SERVERS = frozenset({"filesystem", "git", "fetch", "github"})

BUILTIN_TABLE = RoleTable()

# A URL with any scheme, or a bare host name a client would make clickable (``evil.com/x``):
# more is taken than a strict parser would, since a value no rule allows fails closed. Host
# labels and e-mail addresses may hold any letter, not only ASCII: a look-alike host written
# with a Cyrillic "і" (``rіverside-fc.com``) is a link too (mail clients and chat apps show it
# as one), and its unreadable host then matches no domain rule. So is one whose dots are
# ideographic or full-width (``evil。com``).
# The dots IDNA reads as a label separator: a browser opens "evil。com" as evil.com.
_DOT = "[.\u3002\uff0e\uff61]"
_URL = re.compile(
    r"""(?i)\b[a-z][a-z0-9+.-]{0,31}://[^\s<>"'`()\[\]{}]+"""
    rf"""|(?<![@\w.\u3002\uff0e\uff61-])(?:[^\W_](?:[\w-]*[^\W_])?{_DOT})+[^\W\d_]{{2,}}"""
    r"""(?::\d+)?(?:/[^\s<>"'`()\[\]{}]*)?"""
    r"""|(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/[^\s<>"'`()\[\]{}]*)?"""
)
_EMAIL = re.compile(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-])[\w.!#$%&'*+/=?^`{{|}}~-]+@[^\W_](?:[\w-]*[^\W_])?(?:{_DOT}[\w-]+)+"
)


def extract_urls(text: str) -> list[str]:
    """The URLs a reader (or a mail client) would make clickable in ``text``, in order.

    Trailing sentence punctuation is not part of a URL. A URL the domain parser cannot read
    still counts: it then matches no domain rule, which is the safe answer for a link."""
    found: list[str] = []
    for match in _URL.finditer(_unspelled(_visible(text))):
        url = match.group(0).rstrip(".,;:!?")
        if url and url not in found:
            found.append(url)
    return found


def extract_emails(text: str) -> list[str]:
    """The e-mail addresses in ``text``, in order, without repeats."""
    found: list[str] = []
    for match in _EMAIL.finditer(_unspelled(_visible(text))):
        address = match.group(0).rstrip(".")
        if address not in found:
            found.append(address)
    return found


# An address or host written so that filters miss it and readers do not: "receipts (at) shop
# (dot) eu", "evil[.]com". A bracketed "at" or "dot" (any case, any brackets) is read as "@" or
# ".", as a reader types it.
_SPELLED = re.compile(r"\s*[(\[{<]\s*(at|dot|\.|@)\s*[)\]}>]\s*", re.IGNORECASE)


def _unspelled(text: str) -> str:
    if _BARE_DOT_WORD.search(text):
        text = _bare_spelled(text)
    if "(" not in text and "[" not in text and "{" not in text and "<" not in text:
        return text
    return _SPELLED.sub(lambda m: "@" if m.group(1).lower() in ("at", "@") else ".", text)


# The same without brackets, where the name is a host's: "northwind-receipts dot com",
# "lindental-termine at gmail dot com" (a word before " dot " and a top-level domain after it;
# then a word before " at " and a host with a dot after it). "the dot com bubble" is no host.
_TLDS = (
    "com|org|net|edu|gov|io|co|info|biz|app|dev|me|eu|de|uk|fr|es|it|nl|be|ch|at|pl|se|no|dk|"
    "fi|pt|ie|cz|us|ca|au|nz|in|jp|cn|ru|br|mx|za|xyz|online|site|shop|top|club|ly|tv|cc"
)
_BARE_DOT = re.compile(
    rf"(?i)\b([^\W_][\w-]{{0,62}})\s+dot\s+({_TLDS}|[^\W\d_][\w-]{{0,62}}(?=\s+dot\s))\b"
)
# Any word as the top-level domain where the name before it is a host's by its shape (a hyphen
# or a digit in it: "brightwave-benefits dot help") or a path follows ("fair dot page/register"):
# the list above cannot hold every top-level domain there is.
_BARE_DOT_HOSTLIKE = re.compile(r"(?i)\b([^\W_][\w-]{0,62})\s+dot\s+([^\W\d_]{2,24})(?:\b(?=/)|\b)")
_BARE_DOT_WORD = re.compile(r"(?i)\sdot\s")  # any white space around it: a tab, a line break
_BARE_AT = re.compile(r"(?i)\b([^\W_][\w.+-]{0,63})\s+at\s+([^\W_][\w-]*(?:\.[\w-]+)+)")
_NOT_HOSTS = frozenset(("the", "a", "an", "this", "that", "my", "your", "our", "his", "her"))


def _bare_spelled(text: str) -> str:
    made: set[str] = set()  # the hosts spelled out here ("gmail dot com")

    def dot(match: re.Match[str]) -> str:
        if match.group(1).lower() in _NOT_HOSTS:
            return match.group(0)
        made.add(f"{match.group(1)}.{match.group(2)}".lower())
        return f"{match.group(1)}.{match.group(2)}"

    def hostlike(match: re.Match[str]) -> str:
        name, after = match.group(1), match.string[match.end() : match.end() + 1]
        if not (any(c.isdigit() or c == "-" for c in name) or after == "/"):
            return match.group(0)
        return dot(match)

    for _ in range(4):  # "a dot b dot co dot uk"
        joined = _BARE_DOT_HOSTLIKE.sub(hostlike, _BARE_DOT.sub(dot, text))
        if joined == text:
            break
        text = joined

    def at(match: re.Match[str]) -> str:
        # only before a host spelled out with "dot", and not one a path follows ("upload it
        # at example dot com/upload" is a site, not an address)
        host, after = match.group(2), text[match.end() : match.end() + 1]
        if match.group(1).lower() in _NOT_HOSTS or after == "/":
            return match.group(0)
        if not any(host.lower().endswith(h) for h in made):
            return match.group(0)
        return f"{match.group(1)}@{host}"

    return _BARE_AT.sub(at, text)


# Characters a reader does not see (zero-width spaces and joiners, soft hyphens: Unicode's format
# characters): left out before anything is extracted, so "+44 77\u200b00 900183" is the number a
# reader dials and "ev\u200bil.com" the host they open.
def _visible(text: str) -> str:
    text = text.translate(_CONTROLS)
    if text.isascii():
        return text
    text = text.translate(_BLANKS)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


# Control characters that are not white space (backspace, escape, DEL, the C1 controls): no
# reader sees them either ("DE02\x7f1001…" is the account a reader copies).
_CONTROLS = dict.fromkeys(c for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace())


# Characters that print as a blank but are neither white space nor format characters (the
# Braille blank, the Hangul fillers): a reader sees a space, so a space they are.
_BLANKS = dict.fromkeys((0x2800, 0x115F, 0x1160, 0x3164, 0xFFA0), " ")


def _readable(text: str) -> str:
    """The text as a reader reads a number in it: invisible characters left out, full-width
    and other compatibility forms as their plain letters and digits (``ＤＥ０２`` is DE02)."""
    visible = _visible(text)
    return visible if visible.isascii() else unicodedata.normalize("NFKC", visible)


# What joins the groups of a phone number or IBAN: up to three white-space characters of any
# width (a line break too: "+44 7700" at a line's end and "900183" on the next is one number to a
# reader), or one hyphen, dash, dot, middle dot, bullet or slash with a space either side or not
# ("0151 – 2345", "+49 · 30"); in an IBAN an underscore too ("DE71_1001_1001": in a phone
# number's place it is more often a file name's date, "2024_06_01").
_MARK = "[.\\-/\u00b7\u2022\u2027\u30fb\uff65\u2010-\u2015\u2212]"
_JOIN = rf"(?:\s{{1,3}}|\s?{_MARK}\s?)"
_IBAN_JOIN = rf"(?:\s{{1,3}}|\s?{_MARK}\s?|_)"
# A phone number as people write it: an optional international prefix (``+``, glued to a label
# or not: "Tel.+49…"; or ``00``), then digits in groups, an area code perhaps in brackets
# (possessive: a run of digits is never split again, so a long one costs linear time). The
# candidates are checked by :func:`_phone` (how many digits, not a date or an address).
_PHONE = re.compile(
    r"(?=[+(\d])"  # fast: most characters start nothing
    rf"(?:(?<![\w+])\+|(?<![\w+,/\-\u2010-\u2015\u2212])(?<!\d\.))"
    r"(?=(?:\D{0,5}\d){7})"  # and a run of fewer than seven digits is none
    rf"\(?\d++\)?(?:{_JOIN}?\(?\d++\)?)*+(?!\w)"
)
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
# an IPv4 address, perhaps with a prefix length or a port (a dotted run of three-digit groups
# otherwise is a number: "912.604.318")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}(?:/\d{{1,2}}|:\d{{1,5}})?"
_DOTTED = re.compile(_IPV4)
_IPV4_RUN = re.compile(rf"(?<![\w.]){_IPV4}(?![\w.])")
_DECIMAL = re.compile(r"\d+[.,]\d{1,2}")  # an amount with cents: 1250000.00
# an amount grouped in thousands, up to billions, led by a group of one or two digits ("1 250
# 000", "12.500.000"); "912.604.318" reads as a number to dial, and a longer run is one too
_THOUSANDS = re.compile(r"[1-9]\d?(?:([ \u00a0\u2009\u202f.,])\d{3})(?:\1\d{3}){0,2}")


def _phone(raw: str) -> str | None:
    """The number's canonical form (``+`` and ASCII digits, a leading ``00`` read as ``+``), or
    None when the run is no phone number: fewer than 7 digits, a date, an IPv4 address, a
    number grouped in thousands up to billions, an amount with cents, or a bare run of more
    than E.164's 15 digits. A bare run of 7 to 15 digits is taken (an order number too:
    "5551234567" is dialled as written), and so is a grouped run longer than 15 digits: a
    number glued to other groups ("ref 1234 5678 9 07700 900183") is judged whole rather than
    lost."""
    digits = "".join(str(unicodedata.decimal(c)) for c in raw if c.isdecimal())
    international = raw.startswith(("+", "00"))
    if raw.startswith("00"):
        digits = digits[2:]
    if len(digits) < 7:
        return None
    if not international:
        if any(p.fullmatch(raw) for p in (_ISO_DATE, _DOTTED, _THOUSANDS, _DECIMAL)):
            return None
        if len(digits) > 15 and raw.isdecimal():
            return None  # a bare run no phone has (a hash, a long id)
    return ("+" if international else "") + digits


# An IBAN: a country's two letters, two check digits, then letters and digits joined up or in
# groups of four as banks print them, or of three ("DE89.370.400.440…"), the last one shorter,
# 11 to 30 in all; every group after the first (a bank code may be letters: "GB82 WEST") holds a
# digit, so the words after an IBAN are not read into it. The check digits are not verified: a
# value taken for an IBAN that is none is only judged more, never less.
_IBAN = re.compile(
    rf"(?<!\w)[A-Za-z]{{2}}\d{{2}}{_IBAN_JOIN}?[A-Za-z0-9]{{3,4}}+"
    rf"(?:{_IBAN_JOIN}?(?=[A-Za-z]{{0,3}}\d)[A-Za-z0-9]{{3,4}}+){{2,9}}+"
    rf"(?:{_IBAN_JOIN}?(?=[A-Za-z]{{0,2}}\d)[A-Za-z0-9]{{1,3}})?(?!\w)"
)


def _iban(raw: str) -> str | None:
    """The IBAN's canonical form (upper case, ASCII, no separators: ``DE02100100100987654321``),
    or None when the run has fewer than 15 or more than 34 letters and digits."""
    kept = [c for c in raw if c.isalnum()]
    if not 15 <= len(kept) <= 34:
        return None
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c.upper() for c in kept)


def extract_numbers(text: str) -> tuple[list[str], list[str]]:
    """The phone numbers and the IBANs in ``text``, each in its canonical form, in order,
    without repeats: one reading of the text for both (an IBAN's digits are its own, not a
    phone number's; a run too short or long for an IBAN is read for phone numbers)."""
    ibans: list[str] = []

    def take(match: re.Match[str]) -> str:
        iban = _iban(match.group(0))
        if iban is None:
            return match.group(0)
        if iban not in ibans:
            ibans.append(iban)
        return " "

    phones: list[str] = []
    readable = _readable(text)
    for match in _PHONE.finditer(_IBAN.sub(take, readable)):
        number = _phone(match.group(0))
        if number is not None and number not in phones:
            phones.append(number)
    for match in _VANITY.finditer(readable):  # "0800-PAYSLIP", "0800 LIN DENT"
        number = _vanity(match.group(0))
        if number is not None and number not in phones:
            phones.append(number)
    for match in _SPOKEN.finditer(_spoken_text(readable)):  # "zero three zero, five five …"
        number = _spoken(match.group(0))
        if number is not None and number not in phones:
            phones.append(number)
    if "," in readable:  # groups joined by commas: "DE89,3704,0044,…", "0151, 2345, 6789"
        for match in _COMMA_IBAN.finditer(readable):
            iban = _iban(match.group(0).replace(",", " "))
            if iban is not None and iban not in ibans:
                ibans.append(iban)
        for match in _COMMA_PHONE.finditer(_COMMA_IBAN.sub(" ", readable)):
            number = _phone(match.group(0).replace(",", " "))
            if number is not None and number not in phones:
                phones.append(number)
    return phones, ibans


# A phone number with letters for some of its digits, as toll-free and premium lines are
# advertised: "0800-PAYSLIP", "0800 LIN DENT", "+44 800 FLOWERS", "1-800-FLOWERS". A toll-free
# or premium prefix (8xx or 9xx after a 0, a 1 or + and a country code), at most two more digit
# groups, then letters: in capitals after a space, or after a hyphen or dash (lower case "0800
# free calls" is prose). Dialled, each letter is the digit its key carries. Every part is
# bounded, so a long run of digit groups costs linear time.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015"  # a hyphen and Unicode's dashes
_DASH = re.escape(_DASHES)
_VANITY = re.compile(
    rf"(?<![\w+])(?:\+\d{{1,3}}[\s.{_DASH}]?|1[\s.{_DASH}]?|0)[89]\d\d"
    rf"(?:[\s.{_DASH}]\d{{2,4}}){{0,2}}+"
    rf"(?:[{_DASH}][A-Za-z]{{2,}}(?:[.{_DASH}][A-Za-z0-9]{{2,}}){{0,3}}+"
    r"|\s[A-Z]{2,}(?:[\s.\-][A-Z0-9]{2,}\b){0,3}+)(?!\w)"
)
_KEYPAD = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "2223334445556667777888999922233344455566677778889999",
)


def _vanity(raw: str) -> str | None:
    """A vanity number's digits as dialled (``+`` kept), or None outside 7 to 15 digits, with
    fewer than three letters, or fewer than five after a space ("0900 CEST" is a time)."""
    letters = sum(c.isalpha() for c in raw)
    hyphenated = any(c in _DASHES for c in raw)
    if letters < 3 or (letters < 5 and not hyphenated):
        return None
    digits = "".join(c for c in raw.translate(_KEYPAD) if c.isdigit())
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if raw.startswith("+") else "") + digits


# A number said in words, as it is read out or written to slip past a reader of digits: "zero
# three zero, five five five zero, nine nine one two", "forty-seven eleven, oh-eight
# twenty-two", "oh eight hundred", "double five". A run of number words (digits may stand among
# them: "030 five five five zero") joined by spaces, commas, hyphens or dots, at least two of
# them words; "hundred" only after a digit's word ("eight hundred": a line's "800"), never
# "thousand" or "and" (an amount: "one hundred and twenty"). Its digits, read in order, are
# taken for a phone number when they are 7 to 15 (a number the user spells is granted as its
# digits too, and a result's is remembered so: one reading everywhere).
_UNIT_WORDS = {
    "zero": "0", "oh": "0", "nought": "0", "nil": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEEN_WORDS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS_WORDS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6",
    "seventy": "7", "eighty": "8", "ninety": "9",
}  # fmt: skip
_REPEAT_WORDS = {"double": 2, "triple": 3}
_NUMBER_WORD = "|".join(
    sorted((*_UNIT_WORDS, *_TEEN_WORDS, *_TENS_WORDS, *_REPEAT_WORDS, "hundred"), key=len)[::-1]
)
_SPOKEN_TOKEN = rf"(?:{_NUMBER_WORD}|\d{{1,4}})(?!\w)"
_SPOKEN = re.compile(  # read in the folded text (lower case, lookalikes as Latin letters)
    rf"(?<![\w+])(?:plus[\s,.{_DASH}]{{1,3}})?{_SPOKEN_TOKEN}"
    rf"(?:[\s,.{_DASH}]{{1,3}}+{_SPOKEN_TOKEN}){{2,40}}+"
)


# Cyrillic and Greek letters that look like Latin ones ("zеro" with a Cyrillic е), and the
# combining marks of Unicode's combining blocks (accents: "zéro" is read "zero").
_LATIN_LOOKALIKES = str.maketrans(
    "аеорсухіјѕгпкмнтвԁһӏԛԝүɡαοριυνκχτϳϲ",
    "aeopcyxijsrnkmhtbdhlqwygaopiuvkxtjc",
)
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _spoken_text(readable: str) -> str:
    """The readable text as number words are found in it: lower case, lookalike letters as
    Latin ones, accents dropped, and any other character not ASCII a blank."""
    folded = readable.casefold()
    if folded.isascii():
        return folded
    plain = _COMBINING.sub("", unicodedata.normalize("NFKD", folded.translate(_LATIN_LOOKALIKES)))
    return plain.encode("ascii", "replace").decode("ascii").replace("?", " ")


def _spoken(raw: str) -> str | None:
    """The digits of a number said in words (``+`` kept for a leading "plus"), or None when the
    run has fewer than two number words or its digits are not 7 to 15."""
    tokens = re.findall(rf"{_NUMBER_WORD}|\d+", raw)
    words = [t for t in tokens if not t.isdigit()]
    if len(words) < 2:
        return None
    digits: list[str] = []
    previous = ""
    repeat = 1
    for word in tokens:
        if word.isdigit():
            part = word
        elif word in _REPEAT_WORDS:
            repeat = _REPEAT_WORDS[word]
            previous = word
            continue
        elif word == "hundred":
            if previous not in _UNIT_WORDS or previous in ("zero", "oh", "nought", "nil"):
                return None
            part = "00"
        elif word in _UNIT_WORDS:
            part = _UNIT_WORDS[word]
            if previous in _TENS_WORDS and digits and digits[-1].endswith("0"):
                digits[-1] = digits[-1][:-1]  # "forty-seven": 47, not 407
        elif word in _TEEN_WORDS:
            part = _TEEN_WORDS[word]
        else:
            part = _TENS_WORDS[word] + "0"
        digits.append(part * repeat)
        repeat = 1
        previous = word
    number = "".join(digits)
    if not 7 <= len(number) <= 15:
        return None
    return ("+" if raw.startswith("plus") else "") + number


# A number's groups joined by commas: an IBAN (its country and check digits first), a phone
# number that starts as one does ("+" or a leading 0; a list of amounts does not).
_COMMA_IBAN = re.compile(
    r"(?<!\w)[A-Za-z]{2}\d{2}(?:\s?,\s?[A-Za-z0-9]{3,4}){3,8}(?:\s?,\s?[A-Za-z0-9]{1,3})?(?!\w)"
)
_COMMA_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}|0\d{1,4})(?:\s?,\s?\d{2,5}){2,5}(?![\w,])")


def extract_phones(text: str) -> list[str]:
    """The phone numbers in ``text``, each in its canonical form (``+447700900183`` for
    "+44 7700 900183", ``02075551234`` for "(020) 7555 1234"), in order, without repeats."""
    return extract_numbers(text)[0]


def extract_ibans(text: str) -> list[str]:
    """The IBANs in ``text``, upper case, ASCII, without separators (``DE02100100100987654321``),
    in order, without repeats."""
    return extract_numbers(text)[1]


def without_numbers(text: str) -> str:
    """``text`` with its IPv4 addresses (a CIDR's ``/32`` too), IBANs and the phone numbers
    written as phone numbers (in groups, or after ``+`` or ``00``) blanked out, the same
    length: their digits are no amounts. A bare run of digits stays (it may be an amount as
    well as a number to dial)."""

    def blank(match: re.Match[str]) -> str:
        raw = match.group(0)
        written_as_phone = raw.startswith(("+", "00")) or not raw.isdecimal()
        return " " * len(raw) if written_as_phone and _phone(raw) is not None else raw

    spaced = lambda m: " " * len(m.group(0))  # noqa: E731
    return _PHONE.sub(blank, _IBAN.sub(spaced, _IPV4_RUN.sub(spaced, text)))


EXTRACTORS = {
    "urls": extract_urls,
    "emails": extract_emails,
    "phones": extract_phones,
    "ibans": extract_ibans,
}
