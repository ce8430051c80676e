"""A task plan: which tool each part of the user's request asks for, checked before it is used.

The reader of ``policy.task_grants`` decides from the verbs of a request which tools it asks
for: "approve Marta's leave" asks for ``approve_leave`` (its ``askedBy`` says ``approv*``).
Requests said otherwise ("Sunita goes to 67,500", "Aaliyah to 70k - no, sorry, 69,750") ask
for nothing it can read, and the tool is refused as not asked. A plan says it instead: each
step gives one literal stretch of the request (its *quote*) to one tool.

Who proposes the plan is not trusted here; an LLM that reads the user's words and nothing else
(``appliance.agent.task_plan``) is the intended one, and it never sees a tool result, so what
the agent reads cannot reach it. What is checked, deterministically, and refused step by step
with the reason:

- the tool is one of the policy's, has side effects, and has an ``askedBy`` (a tool without
  one is not judged by what the request asks, so a plan has nothing to say of it);
- the quote is copied from the request, character for character (white space aside);
- the quote does not open by saying not to ("don't", "never", "no need to"): a step for what
  the user said not to do is refused, whatever the proposer meant by it; nor does it lie
  inside double quotation marks (words the user quotes, or wants said).

A step whose quote the reader takes for a question or a negated clause ("Should I approve
Marta's leave?", "and no need to tell Aaliyah anything"), or whose sentence states a
condition, is kept as asked on a condition: its calls are put to the human.

What a step changes, and only that: the quoted part counts as asking for that tool (for the
tool's ``askedBy`` and for every ``asks`` of a rule that shares one of its entries), beside
what the reader made of it (the plan adds; it takes nothing the reader read away). The values
the tool may use are still the quote's own (each read by the same rules as the whole
request's), records are still bound by the quote's words, a step on a condition is still put
to the human, and every rule still judges every call. A plan never grants a value the user did
not type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from policy.loader import Policy
from policy.task_grants import MAX_TASK_CHARS, Instruction, affirmed, condition_in, instructions

__all__ = [
    "MAX_ABOUT_CHARS",
    "MAX_QUOTE_CHARS",
    "MAX_STEPS",
    "CheckedPlan",
    "PlanStep",
    "check_plan",
    "with_plan",
]

MAX_STEPS = 24
MAX_QUOTE_CHARS = 400
MAX_ABOUT_CHARS = 200
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# A quote that opens by saying not to: "don't delete the old one", "please never merge it", "no
# need to tell him". (A negative later in the quote is what the action is or says: "tell her
# she doesn't need to make the hours up", "delete branches that haven't had a commit since…".)
_NEGATIVE = re.compile(
    r"(?i)^(?:(?:and|but|so|then|also|please|pls|just|oh|ok|okay)\W+)*"
    r"(?:not|never|no|nothing|neither|nor|don['’]?t|do\s+not|doesn['’]?t|won['’]?t|can['’]?t"
    r"|shouldn['’]?t|mustn['’]?t)\b"
)


class PlanStep(NamedTuple):
    """One checked step: the tool (``server/tool``), the quote (white space made single
    spaces), whether it is asked for only on a condition the agent judges, and what it acts on
    when the quote only points to it (``about``: another literal stretch of the request, "the
    blue sofa order" for the quote "cancel it"; empty when none was given)."""

    tool: str
    quote: str
    conditional: bool = False
    about: str = ""


class CheckedPlan(NamedTuple):
    steps: tuple[PlanStep, ...]
    refused: tuple[str, ...]  # one line per step refused, naming it and why

    def describe(self) -> str:
        """The plan as the user sees it, one line per step, then what was refused."""
        lines = [
            f"  {s.tool}: {s.quote!r}"
            + (f" (about {s.about!r})" if s.about else "")
            + (" (only if the condition holds: asked)" if s.conditional else "")
            for s in self.steps
        ]
        head = "task plan: " + (f"{len(self.steps)} step(s)" if self.steps else "no step")
        lines += [f"  refused: {r}" for r in self.refused]
        return "\n".join([head, *lines])


def _flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def check_plan(raw: Any, text: str, policy: Policy) -> CheckedPlan:
    """The steps of ``raw`` (``{"steps": [{"tool", "quote", "about", "if"}]}``) that hold for the
    request ``text`` and ``policy``; each other step refused with why. Never raises."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("steps"), list):
        return CheckedPlan(
            (), ('the plan is not an object {"steps": [...]}: nothing of it is used',)
        )
    request = _flat(text[:MAX_TASK_CHARS])
    read = Reading(request, affirmed(request), _quoted_spans(request))
    steps: list[PlanStep] = []
    refused: list[str] = []
    read_as = _read_as(request, policy)
    if len(raw["steps"]) > MAX_STEPS:
        refused.append(f"steps after the {MAX_STEPS}th: a plan has at most {MAX_STEPS}")
    for number, step in enumerate(raw["steps"][:MAX_STEPS], start=1):
        problem, checked = _check_step(step, read, policy)
        if checked is not None and (other := _taken(checked, read_as)):
            problem, checked = (
                f"{checked.tool}: {checked.quote!r} holds an instruction read as asking for "
                f"{other} (a plan adds where the reader found nothing)",
                None,
            )
        if checked is None:
            refused.append(f"step {number}: {problem}")
        elif checked not in steps:
            steps.append(checked)
    return CheckedPlan(tuple(steps), tuple(refused))


class Reading(NamedTuple):
    """The request as the steps are checked against it: its text (white space made single
    spaces), the same with negated clauses and questions blanked out, and where it quotes."""

    text: str
    affirmed: str
    quoted: tuple[tuple[int, int], ...]


# Text in quotation marks: someone else's words, or words to be said. A straight double mark
# opens only at a word's start and closes only at its end (an inch mark, 27", pairs with
# nothing); a single curly mark opens only at a word's start (’ is an apostrophe too); straight
# single marks are apostrophes too often to be read as quotes.
_QUOTED = re.compile(
    r'(?<![^\s(\[{<:;,—–-])"(?=\S)[^"]*?(?<=\S)"(?![^\s.,;:!?)\]}—–-])'
    r"|“[^”“]*”|„[^“”„]*[“”]|«[^»]*»|»[^«]*«|‹[^›]*›|「[^」]*」|『[^』]*』"
    r"|(?<![^\s(\[{<:;,—–-])‘[^‘’]*’(?![\w])"
)


def _quoted_spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(m.span() for m in _QUOTED.finditer(text))


def _occurrences(quote: str, text: str) -> list[int]:
    """Where ``quote`` starts in ``text``: its first ``_MAX_PLACES`` occurrences (a quote
    found more often than that says nothing of where it was meant; each is judged)."""
    found, at = [], text.find(quote)
    while at >= 0 and len(found) < _MAX_PLACES:
        found.append(at)
        at = text.find(quote, at + 1)
    return found


_MAX_PLACES = 32


_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
# A sentence that goes on from the one before: what that one says is its condition too.
_GOES_ON = re.compile(
    r"(?i)^\W*(?:then|otherwise|else|if\s+so|if\s+not|in\s+that\s+case|after\s+that|once"
    r"|only\s+then|and\s+then)\b"
)
# A sentence that is the condition of the one before: "Only if his cover is sorted."
_CONDITION_AFTER = re.compile(
    r"(?i)\s*\W*(?:(?:but|and|though|however)\W+)?(?:only\s+(?:if|when|once)|unless|provided"
    r"|providing|as\s+long\s+as|so\s+long\s+as|assuming|but\s+only)\b"
)
# Beyond condition_in: "Should the sheet be signed by Friday, …", and a maybe.
_DOUBT = re.compile(
    r"(?i)(?:^|[.!?;:,]\s*)should\s+(?:the|it|he|she|they|we|you|this|that|there|[A-Z]\w*)\b"
    r"|\b(?:maybe|perhaps|possibly|probably|might)\b"
)


def _conditional(text: str, start: int, end: int) -> bool:
    """Whether the sentences the span ``start``-``end`` lies in state a condition (or the one
    before them, when they go on from it)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
    opening = ends[-1] if ends else 0
    after = _SENTENCE_END.search(text, end)
    sentences = text[opening : (after.end() if after else len(text))]
    if _GOES_ON.match(sentences) and ends:
        sentences = text[(ends[-2] if len(ends) > 1 else 0) : opening] + sentences
    if after and _CONDITION_AFTER.match(text, after.end()):
        # "Approve it. Only if his cover is sorted, though.": the next sentence is its condition
        return True
    return condition_in(sentences) or _DOUBT.search(sentences) is not None


def _kept_at(kept: str, start: int, quote: str) -> bool:
    """Whether most of the quote's letters at ``start`` are kept in ``kept`` (a reading of
    the request with some clauses blanked out)."""
    letters = [i for i, c in enumerate(quote) if c.isalnum()]
    return sum(1 for i in letters if kept[start + i] != " ") * 2 > len(letters)


def _read_as(request: str, policy: Policy) -> list[tuple[str, frozenset[str]]]:
    """The reader's instructions of the request (their text, white space made single), each
    with the side-effect tools (``askedBy``) it asks for."""
    tools = [
        (f"{server}/{name}", annotation.asked_by)
        for server, by_name in policy.annotations.items()
        for name, annotation in by_name.items()
        if annotation.side_effects and annotation.asked_by is not None
    ]
    verbs = {entry.split()[0] for _, asked_by in tools for entry in asked_by}
    found = []
    for item in instructions(request, verbs):
        fits = frozenset(tool for tool, asked_by in tools if item.fits(asked_by))
        if fits:
            found.append((_core(item.text), fits))
    return found


def _taken(step: PlanStep, read_as: list[tuple[str, frozenset[str]]]) -> str | None:
    """Another tool an instruction inside the step's quote was read as asking for, when the
    reader read none of them as asking for the step's own: a plan may give a part the reader
    found nothing in to a tool, not move "snapshot vm-0b41" to delete_vm."""
    inside = [fits for text, fits in read_as if text and _overlap(text, step.quote)]
    if not inside or any(step.tool in fits for fits in inside):
        return None
    return ", ".join(sorted(set().union(*inside)))


def _shown(value: Any) -> str:
    """A value of the planner's answer as a refusal names it: 80 characters at most (the answer
    is not trusted to be short, and refusals reach the terminal and the audit)."""
    try:
        text = repr(value)
    except RecursionError:
        return "(too deeply nested to show)"
    return text if len(text) <= 80 else f"{text[:77]}..."


def _check_step(step: Any, read: Reading, policy: Policy) -> tuple[str, PlanStep | None]:
    if not isinstance(step, Mapping):
        return "not an object with 'tool' and 'quote'", None
    tool, quote, condition = step.get("tool"), step.get("quote"), step.get("if", False)
    if not isinstance(tool, str) or tool.count("/") != 1:
        return f"'tool' {_shown(tool)} is not 'server/tool'", None
    server, _, name = tool.partition("/")
    annotation = policy.annotations.get(server, {}).get(name)
    if annotation is None:
        return f"'tool' {_shown(tool)} is not a tool of the policy", None
    if not annotation.side_effects:
        return f"{tool} changes nothing (it needs no plan)", None
    if annotation.asked_by is None:
        return f"{tool} has no askedBy: the request does not decide whether it is asked", None
    if not isinstance(quote, str) or not _WORDS.search(quote):
        return f"{tool}: 'quote' {_shown(quote)} is not a piece of the request", None
    quote = _flat(quote)
    if len(quote) > MAX_QUOTE_CHARS:
        return f"{tool}: the quote is longer than {MAX_QUOTE_CHARS} characters", None
    at = _occurrences(quote, read.text)
    if not at:
        return f"{tool}: {_shown(quote)} is not in the request as written", None
    if _NEGATIVE.search(quote):
        return f"{tool}: {quote!r} says what not to do", None
    # starting or ending inside quoted words (a quote may hold them whole: tell him "…")
    quoted = [any(s < a + 1 < e or s < a + len(quote) - 1 < e for s, e in read.quoted) for a in at]
    if all(quoted):
        return f"{tool}: {quote!r} is (partly) inside quotation marks (words quoted)", None
    if not isinstance(condition, bool):
        return f"{tool}: 'if' {_shown(condition)} is not true or false", None
    # A part the reader takes for a question or a negated clause is put to the human, whatever
    # the planner made of it ("Should I approve Marta's leave?", "no need to tell Aaliyah
    # anything"; but also "tell her she doesn't need to make the hours up", whose negation is
    # in what to say: the reader cannot always tell).
    # Every place the quote is found counts: "LV-3307" also typed in "don't approve LV-3307".
    doubted = any(quoted) or not all(_kept_at(read.affirmed, a, quote) for a in at)
    # A condition anywhere in the sentences the quote is in ("If the sheet is signed: Sunita goes
    # to 67,500", the quote "Sunita goes to 67,500"), or in the one before when its own opens by
    # going on from it ("Wait until Carmen signs. Then …"): the planner's "if" is not needed.
    stated = any(_conditional(read.text, a, a + len(quote)) for a in at)
    about = step.get("about", "")
    problem, about, about_conditional = _check_about(about, read)
    if problem:
        return f"{tool}: {problem}", None
    if about and (named := _names_itself(read.text, at, quote)):
        # the quote names what it acts on: "Delete vm-0c07" with about "vm-0b41" would give
        # the tool a record its own words do not; so does its clause ("Approve" of "Approve
        # LV-3301." with about "Jonah's moving day leave")
        return f"{tool}: {quote!r} names {named!r} in its clause; it takes no 'about'", None
    return "", PlanStep(tool, quote, condition or doubted or stated or about_conditional, about)


# What names a record by itself: a word of letters and digits ("vm-0c07", "LV-3301"; not an
# ordinal, "the 1st"), a number after "#" ("#412"), an e-mail address, an @handle, a word
# joined by "." or "_" or "/" ("sara.lind", "mira_t", "omar/fix-typo").
_ID = re.compile(
    r"#\d+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|@[\w-]+"
    r"|\b(?!\d+(?:st|nd|rd|th)\b)(?=[\w-]*[^\W\d_])(?=[\w-]*\d)[\w-]+\b"
    r"|\b(?=[\w./]*[^\W\d_])\w+(?:[._/]\w+)+\b"
)
# A clause ends at a sentence's end, a comma, a semicolon, a colon or a dash between spaces.
_CLAUSE = re.compile(r"[.!?;:,](?=\s|$)|\s[-–—]\s")
# After what a step would act on, in its clause: the user says it is left as it is ("stays
# pending", "can wait", "is staying", "should be left alone", "on hold", "untouched"; not the
# noun: "Kofi's wedding leave").
_LEFT_AS_IS = re.compile(
    r"(?i)\b(?:stay\w*|wait\w*|remain\w*|keep\w*|kept|stand\w*|untouched|alone|on\s+hold"
    r"|left\s+(?:as|open|running|in\s+place|where)|leave\s+(?:it|them|that|this|him|her)\b"
    r"|as\s+(?:it|they|he|she)\s+(?:is|are)|as\s+is)\b"
)


def _clause_at(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause the span ``start``-``end`` lies in (from the clause end before it to the one
    after it)."""
    before = [m.end() for m in _CLAUSE.finditer(text, 0, start)]
    after = _CLAUSE.search(text, end)
    return (before[-1] if before else 0), (after.start() if after else len(text))


def _names_itself(text: str, at: list[int], quote: str) -> str | None:
    """An id, address or handle in the quote's clause (at a place of it), if any."""
    for a in at:
        first, last = _clause_at(text, a, a + len(quote))
        if named := _ID.search(text, min(first, a), max(last, a + len(quote))):
            return named.group()
    return None


def _check_about(about: Any, read: Reading) -> tuple[str, str, bool]:
    """(why ``about`` is refused, or ""; it with white space made single; whether a place of
    it is on a condition). What a step acts on is named by the user's words, affirmed where
    they are: at every place it is found, not quoted, not in a negated clause or a question
    ("not Jonas's VMs", "is the garden one spam?"), not said to stay as it is ("LV-3307 stays
    pending", "the garden centre one stays")."""
    if about is None or about == "":
        return "", "", False
    if not isinstance(about, str) or not _WORDS.search(about):
        return f"'about' {_shown(about)} is not a piece of the request", "", False
    about = _flat(about)
    if len(about) > MAX_ABOUT_CHARS:
        return f"'about' is longer than {MAX_ABOUT_CHARS} characters", "", False
    at = _occurrences(about, read.text)
    if not at:
        return f"'about' {_shown(about)} is not in the request as written", "", False
    if _NEGATIVE.search(about):
        return f"'about' {about!r} says what not to do", "", False
    for a in at:
        end = a + len(about)
        # every letter of it affirmed and unquoted ("LV-3301, but not LV-3307" is not)
        inside = any(s < end and a < e for s, e in read.quoted)
        if inside or any(c.isalnum() and read.affirmed[a + i] == " " for i, c in enumerate(about)):
            return f"'about' {about!r} is quoted, negated or asked about where it is", "", False
        _first, last = _clause_at(read.text, a, end)
        if kept := _LEFT_AS_IS.search(read.text, end, max(last, end)):
            return f"'about' {about!r} is said to be left as it is ({kept.group()!r})", "", False
    return "", about, any(_conditional(read.text, a, a + len(about)) for a in at)


def with_plan(
    items: Iterable[Instruction],
    steps: Iterable[PlanStep],
    policy: Policy,
    verbs: Iterable[str] = (),
) -> tuple[Instruction, ...]:
    """The request's instructions and, for each step, the step's part given to its tool: the
    quote as one instruction of its words and values, with what an instruction the reader found
    inside it points back to ("decline it"). What the reader read stays as it read it."""
    read = tuple(items)
    steps = tuple(steps)
    if not steps:
        return read
    planned: list[Instruction] = []
    for step in steps:
        server, _, name = step.tool.partition("/")
        asked_by = policy.annotations[server][name].asked_by or ()
        # The quote is one instruction of all its words and values ("LV-3301 is fine by me,
        # go": the id typed before "go" is the step's), as many objects as the reader finds in
        # it; what an instruction the reader found inside it points back to ("… please approve
        # it": what came before) is the step's too.
        inside = [i for i in read if _core(i.text) and _core(i.text) in step.quote]
        found = inside or list(instructions(step.quote, verbs))
        words = tuple(w.casefold() for w in _WORDS.findall(step.quote))
        item = Instruction(
            inside[0].verb if inside else "",
            words,
            step.quote,
            context=" ".join(dict.fromkeys(i.context for i in inside if i.context)),
            conditional=any(i.conditional for i in inside) or step.conditional,
            parts=sum(i.parts for i in found) or 1,
        )
        # what the step acts on, where the quote only points to it ("just delete it"): words
        # for its records, never values
        planned.append(item._replace(tool=step.tool, planned=tuple(asked_by), about=step.about))
    return (*read, *planned)


def _overlap(text: str, quote: str) -> bool:
    return bool(text) and (text in quote or _core(quote) in text)


def _core(text: str) -> str:
    """A piece of the request without the punctuation around it: the reader's instruction
    "approve it." is the planner's quote "…, please approve it"'s own."""
    return _flat(text).strip(" .,;:!?…-–—")
