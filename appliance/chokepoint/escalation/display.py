"""Showing untrusted text on a terminal: the agent chose these strings, not the approver.

A tool call's arguments, a tool name or a logged reason may carry escape sequences that move
the cursor, rewrite lines already shown or retitle the window, so an approver could be shown
one call and approve another. Every character that is not printable is shown as an escape
(``\\x1b``, ``\\n``, ``\\u202e``) instead.

An escalation's values are shown with :func:`shown_value` (the terminal, the console and Signal
alike): neutralised, and flagged where no escaping makes a deception visible: a word mixing Latin
with a script of lookalike letters (``pаypal`` with a Cyrillic ``а``), a name written wholly in
letters that pass for Latin (``аррӏе.com``, all Cyrillic), and a punycode name
(``xn--80ak6aa92e.com``), shown decoded and checked as decoded.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from typing import Any

from appliance.chokepoint.escalation.confusables import LATIN_LOOKALIKES
from appliance.chokepoint.escalation.models import EscalationRequest
from appliance.chokepoint.escalation.punycode import NAME, punycode_names

__all__ = [
    "format_request",
    "lookalike_scripts",
    "mixed_scripts",
    "neutralise",
    "neutralise_lines",
    "shown_arguments",
    "shown_value",
]

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


def neutralise_lines(text: str) -> str:
    """Multi-line text (code, a run's output, an answer) safe to print, still readable: each
    line neutralised, its line breaks kept, tabs expanded, backslashes shown as written.

    For text shown, never for a value someone approves: a literal ``\\x1b`` and an escaped
    ESC look alike here, which ``format_request`` (backslashes doubled) does not allow.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(neutralise(line.expandtabs(4), json_text=True) for line in lines)


def _unsafe(char: str, json_text: bool) -> bool:
    if char == "\\":
        return not json_text
    return char in _SHORT or (char != " " and unicodedata.category(char)[0] in "CZ")


# scripts with letters that pass for Latin ones (Unicode's confusables), by the first word of
# a letter's Unicode name; no more: "µs", "1ª" or "Tシャツ" are ordinary mixes
_LOOKALIKE_SCRIPTS = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "ARMENIAN": "Armenian",  # օ ս հ
    "CHEROKEE": "Cherokee",  # Ꭺ Ꮯ Ꮪ
    "COPTIC": "Coptic",  # ⲟ ⲣ ⲥ
    "LISU": "Lisu",  # ꓮ ꓑ ꓔ: Latin capitals to the pixel
    "CANADIAN": "Canadian Syllabics",  # ᐯ ᑭ ᗅ
    "TIFINAGH": "Tifinagh",  # ⵔ ⵏ
    "GEORGIAN": "Georgian",  # ყ ი
    "MYANMAR": "Myanmar",  # ဝ
}
# a word ends only at ASCII whitespace or punctuation: a zero-width, a thin or no-break space
# or a control between a Cyrillic "pа" and a Latin "ypal" (all shown escaped, "pа\u2009ypal")
# does not make them two words
_WORD = re.compile(r"[^\t\n\v\f\r !-/:-@\[-`{-~]+")


def mixed_scripts(text: str) -> list[str]:
    """The scripts (Latin first) of the words of ``text`` that mix letters of two or more of
    Latin and the scripts with Latin lookalikes (Cyrillic, Greek ...); [] when none does. A word
    wholly in one script (a Cyrillic name) is not flagged."""
    # most text has one such script at most: a 1 MB call is shown on every console refresh
    if text.isascii() or len(_scripts(set(text))) < 2:
        return []
    found: set[str] = set()
    for word in _WORD.findall(text):
        scripts = _scripts(set(word))
        if len(scripts) > 1:
            found |= scripts
    return sorted((_LOOKALIKE_SCRIPTS[s] for s in found), key=lambda s: (s != "Latin", s))


def _scripts(chars: set[str]) -> set[str]:
    return {_script(c) for c in chars if c.isalpha()} & _LOOKALIKE_SCRIPTS.keys()


@functools.lru_cache(maxsize=4096)
def _script(letter: str) -> str:
    return unicodedata.name(letter, "").partition(" ")[0]


_LOOKALIKE_OF = {c: script for script, table in LATIN_LOOKALIKES.items() for c in table}
# a shorter name is ordinary prose: Russian "а", "с", "ее", Greek "οι" ("х.com" has 4 letters)
_LOOKALIKE_LETTERS = 3


def lookalike_scripts(text: str) -> list[str]:
    """The scripts of the names in ``text`` (hosts, addresses' parts, file names, words) whose
    letters other than Latin ones are all of one script and all pass for Latin letters
    (``аррӏе.com``, ``ΑΡΡΟ``), three letters or more; [] when none is. A Russian or Greek word
    with one letter that looks like no Latin one ("привет") is not flagged."""
    if text.isascii() or _LOOKALIKE_OF.keys().isdisjoint(text):
        return []
    found = {script for name in NAME.findall(text) if (script := _lookalike(name))}
    return sorted(found)


def _lookalike(name: str) -> str | None:
    scripts: set[str] = set()
    letters = 0
    for char in name:
        if char.isalpha():
            letters += 1
            script = _LOOKALIKE_OF.get(char)
            if script is not None:
                scripts.add(script)
            elif _script(char) != "LATIN":
                return None  # a letter that passes for none: the name reads as its script
    return scripts.pop() if len(scripts) == 1 and letters >= _LOOKALIKE_LETTERS else None


def _flag(text: str) -> str:
    """What an approver is told beside ``text``: its punycode names decoded, then the scripts
    mixed in a word and those of names wholly in lookalikes, the decoded names included."""
    names = punycode_names(text)
    decoded = [p.decoded for p in names if p.decoded is not None]
    invalid = [p.name for p in names if p.decoded is None]
    checked = "\n".join([text, *decoded])  # a line each: a decoded name is words of its own
    mixed = [s for s in mixed_scripts(checked) if s != "Latin"]  # a mix has one at least
    lookalike = [s for s in lookalike_scripts(checked) if s not in mixed]
    notes = [
        ("punycode", _listed([neutralise(name) for name in decoded])),
        ("invalid punycode", _listed([neutralise(name) for name in invalid])),
        ("mixed scripts", ", ".join(mixed)),
        ("Latin lookalike", ", ".join(lookalike)),
    ]
    return "".join(f" [{what}: {shown}]" for what, shown in notes if shown)


def _listed(names: list[str]) -> str:
    more = len(names) - _LISTED
    return ", ".join(names[:_LISTED]) + (f" and {more} more" if more > 0 else "")


_LISTED = 5  # punycode names listed at most: a call can hold thousands


def shown_value(text: str) -> str:
    """A value of an escalation (a path, a URL, a recipient), safe to show an approver:
    neutralised, and flagged as :func:`_flag` says: `` [mixed scripts: Cyrillic]`` when a
    word in it mixes scripts, `` [Latin lookalike: Cyrillic]`` for ``аррӏе.com``,
    `` [punycode: аррӏе.com]`` after ``xn--80ak6aa92e.com``."""
    return neutralise(text) + _flag(text)


def shown_arguments(arguments: dict[str, Any], limit: int | None) -> tuple[str, bool]:
    """A call's arguments as JSON cut at ``limit`` characters (None: never) and neutralised,
    flagged as :func:`shown_value` flags, and whether the whole of it fits (a channel that
    cut it must not let the cut call be approved). The flag covers the part cut too."""
    text = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    whole = limit is None or len(text) <= limit
    shown = text if limit is None or whole else text[:limit]
    more = "" if whole else f"... ({len(text) - len(shown)} more characters)"
    return neutralise(shown, json_text=True) + more + _flag(text), whole


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
    return [f"    {shown_value(label):<{width}}  {shown_value(value)}" for label, value in pairs]


_FULL_LIMIT = 4096


def format_request(number: int, request: EscalationRequest, *, session: bool = False) -> str:
    """A few lines describing one escalation, safe to print: server and tool, then every role
    value of the call, then the whole arguments and the reason, then what "similar" would cover."""
    n = shown_value
    where = f" [session {n(request.session_id)}]" if session else ""
    lines = [f"[{number}] {n(request.server)}/{n(request.tool)}{where}"]
    lines += _target_lines(request)
    # whole: a terminal can approve what it shows, and the role values cut free text at 500
    lines.append(f"    arguments: {shown_arguments(request.arguments, None)[0]}")
    lines.append(f"    reason:    {n(request.reason)} (rule {n(request.rule)})")
    similar = (
        f"/approve {number} similar (covers {n(request.similar)})"
        if request.similar
        else f"/approve {number} similar"
    )
    lines.append(f"    answer:    /approve {number}  |  {similar}  |  /deny {number}")
    return "\n".join(lines)
