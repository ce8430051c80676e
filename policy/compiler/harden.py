"""Stage 6, after verification: the lint's findings handed back to the LLM, once per server.

Verified rules can still let text the agent reads choose a side effect's value
(``policy.lint``): an allow that compares a payee with a standing list or a range instead of the
task's values (``unbound``), an identifier bound to every word typed (``words``), a side effect
no count limits (``uncapped``), a message's text no copy rule reads (``copies``). Such a rule is
what the constitution said, so it verifies; it is also what an injection uses. This stage shows
the server's findings to the LLM and asks for the server's rules again with each bound to the
task's values, capped, or guarded, where the constitution allows it.

The revision is kept only when it only narrows (:func:`narrowing`), passes every check a first
answer passes, every scenario and invariant still holds, and the server has fewer findings than
before. Otherwise the verified rules stay and the progress line says why. Nothing here is fatal.
A kept or refused revision is cached by the digest of what it revised, so a second compile asks
nothing.

Only narrowing, checked on the rules' text, not trusted to the scenarios (``narrowing``: an
allow-list of edits). A verified allow rule may be dropped, become an escalate, or gain
conditions that only narrow what it covers; its ``session`` update never changes (the session
counts every entry, and equal updates of several rules once, so any edit could double or halve
a counter). Escalate and deny rules are kept exactly. A new rule may only escalate, as a cap (a
count read as a floor that no count of zero meets) or a copy guard; its update may only count a
new counter that every rule reads as a cap. So a value the verified rules allowed may now be
refused or asked about, never the reverse; the one change to a refusal is that a new cap, once
it bites, or a copy guard, on a text that copies, may ask about a value no rule covered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from policy.compiler.annotate import declared_of
from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.compiler.rules import SYSTEM as RULES_SYSTEM
from policy.compiler.rules import check_rules
from policy.lint import Finding, lint
from policy.loader import Policy
from policy.models import PolicyError, Rule, ServerAnnotations
from policy.role_specs import BUILTIN_TABLE

__all__ = ["HARDENED", "Hardening", "harden_rules", "narrowing", "own_words"]

# The kinds a server's rules alone can answer (the others need annotations: records, whenAbsent).
HARDENED = frozenset({"unbound", "uncapped", "words", "copies"})

SYSTEM = """You harden the rules of ONE MCP server, compiled from a security constitution and
verified. A lint found where text the agent reads (a mail, a web page, a listing someone else
wrote) could choose what a side effect does. Answer with one JSON object only: {"rules": [the
server's complete new rule list]}, rules in the same form as before. Keep every decision the
constitution requires for what the user asks for; change only what the findings name:
- "unbound"/"words": allow the value only from the task's lists ("@task:identifiers",
  "@task:emails", "@task:amounts", …) or a "@session:" list, where the constitution says the
  user names it, or escalate instead of allow;
- "uncapped": add, before the allow rules, an escalate rule on the tool with "session":
  [{"count": NAME, "gte": N}] (N the most calls one task needs) and a top-level "session":
  {"count": [NAME]}: it counts the tool's calls itself, NAME a new counter;
- "copies": add, before the allow rules, an escalate rule with "provenance": {"roles":
  [the text's role], "from": "untrusted", "words": 4}; where the constitution wants a person
  to see what the agent writes once it has read others' text (a reworded instruction copies
  no words), a second one with "afterText": 1 in place of "words".
Only narrow: keep the rules' order and names; keep escalate rules exactly; an allow rule may be
dropped, become escalate, or gain conditions (never lose or change one, never change its
"session" update); new rules may only be the caps and copy guards above. A finding the
constitution wants as it is may stay. The vocabulary:
""" + RULES_SYSTEM.split("\n", 1)[1]

Check = Callable[[Policy], list]  # the verification's failures for a candidate policy


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Hardening:
    """What the stage did for one server: findings before and after, and whether the revision
    was kept (``refused`` says why not)."""

    server: str
    before: int
    after: int
    kept: bool
    refused: str = ""

    def line(self) -> str:
        if self.kept:
            return f"harden    {self.server}: {self.before} lint finding(s) -> {self.after}"
        return (
            f"harden    {self.server}: {self.before} lint finding(s) kept; the revision was "
            f"refused ({self.refused})"
        )


def harden_rules(
    constitution: str,
    rules: Mapping[str, tuple[Rule, ...]],
    annotations: Mapping[str, ServerAnnotations],
    build: Callable[[Mapping[str, tuple[Rule, ...]]], Policy],
    check: Check,
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
) -> tuple[dict[str, tuple[Rule, ...]], list[Hardening]]:
    """The rules with every server's accepted revision, and what happened per server."""
    current = dict(rules)
    done: list[Hardening] = []
    built = build(current)
    found = _by_server(lint(built))
    opaque = built.roles.opaque_roles  # the values nothing but a copy rule reads: a text
    for server in sorted(found):
        findings = found[server]
        key = _key(constitution, server, current[server], annotations[server], findings)
        revised = _revision(server, constitution, current[server], annotations[server],
                            findings, llm, cache, key)  # fmt: skip
        others = [r for name, rs in current.items() if name != server for r in rs]
        widens = (
            None
            if isinstance(revised, str)
            else narrowing(current[server], revised, others, opaque)
        )
        if isinstance(revised, str):  # no usable answer: asked again by the next compile
            outcome = Hardening(server, len(findings), len(findings), False, revised)
        elif widens is not None:
            outcome = Hardening(server, len(findings), len(findings), False, widens)
            cache.put("harden", key, {"rules": None, "refused": widens})
        else:
            revised = own_words(current[server], revised)
            candidate = {**current, server: revised}
            outcome = _judged(server, findings, candidate, build, check)
            if outcome.kept:
                current = candidate
            kept = _dumped(revised) if outcome.kept else None
            cache.put("harden", key, {"rules": kept, "refused": outcome.refused})
        progress(outcome.line())
        done.append(outcome)
    return current, done


# What a question from a rule the harden stage added tells the approver. The LLM's own words
# are not used: a reason reaches the human (and the auto-approver) with the question, and a
# revision that may only narrow must not be able to argue for an approval there.
CAP_REASON = (
    "more calls of this tool than one request asks for (a cap the compiler added after "
    "`policy lint` found the tool uncapped)"
)
COPY_REASON = (
    "the text repeats, word for word, a run an untrusted result wrote (a copy guard the "
    "compiler added after `policy lint`)"
)
AFTER_TEXT_REASON = (
    "the text was written after the agent read someone else's text, which it may repeat in "
    "other words (a guard the compiler added after `policy lint`)"
)


def own_words(original: Sequence[Rule], revised: Sequence[Rule]) -> tuple[Rule, ...]:
    """The revision with the texts a human reads written by the compiler, not the LLM: a kept
    rule keeps its verified reason, description and principle; a new rule (a cap or a copy
    guard: ``narrowing``) gets the reason of its kind."""
    before = {rule.name: rule for rule in original}
    out = []
    for rule in revised:
        old = before.get(rule.name)
        if old is not None:
            texts = {"reason": old.reason, "description": old.description}
            out.append(rule.model_copy(update={**texts, "principle": old.principle}))
            continue
        provenance = rule.when.provenance
        reason = (
            CAP_REASON
            if provenance is None or not provenance.on_text
            else AFTER_TEXT_REASON
            if provenance.after_text is not None
            else COPY_REASON
        )
        out.append(rule.model_copy(update={"reason": reason, "description": "", "principle": ""}))
    return tuple(out)


def _by_server(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.kind in HARDENED:
            out.setdefault(finding.server, []).append(finding)
    return out


def _key(
    constitution: str,
    server: str,
    rules: tuple[Rule, ...],
    annotations: ServerAnnotations,
    findings: Sequence[Finding],
) -> str:
    tools = [t.model_dump(mode="json", by_alias=True) for t in annotations.tools]
    declared = {n: s.model_dump(mode="json") for n, s in sorted(declared_of(annotations).items())}
    lines = [f.line() for f in findings]
    return digest_of("harden", server, constitution, _dumped(rules), tools, declared, lines)


def _dumped(rules: tuple[Rule, ...]) -> list:
    return [r.model_dump(mode="json", by_alias=True) for r in rules]


def _revision(
    server: str,
    constitution: str,
    rules: tuple[Rule, ...],
    annotations: ServerAnnotations,
    findings: Sequence[Finding],
    llm: LLM,
    cache: StageCache,
    key: str,
) -> tuple[Rule, ...] | str:
    """The LLM's revised rules, checked as a first answer is; or why there are none."""

    def checked(entry: Any) -> tuple[Rule, ...] | str:
        if entry["rules"] is None:  # judged and refused: the same rules are refused again
            return f"{entry.get('refused') or 'refused'}; cached"
        hit = _Answer.model_validate({"rules": entry["rules"]}).rules
        check_rules(server, annotations, hit)
        return hit

    if (hit := cache.get_checked("harden", key, checked)) is not None:
        return hit
    tools = [t.model_dump(mode="json", by_alias=True) for t in annotations.tools]
    declared = {
        n: s.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for n, s in sorted(declared_of(annotations).items())
    }
    prompt = (
        f"Server: {server}\nConstitution:\n{constitution}\n\n"
        f"Tool annotations:\n{json.dumps(tools, indent=1)}\n\n"
        + (f"The server's own roles:\n{json.dumps(declared, indent=1)}\n\n" if declared else "")
        + f"Rules:\n{json.dumps(_dumped(rules), indent=1)}\n\n"
        + "Lint findings:\n"
        + "\n".join(f.line() for f in findings)
    )
    try:
        answer = ask_json(llm, SYSTEM, prompt, _Answer, "harden", server)
        check_rules(server, annotations, answer.rules)
    except CompileError as exc:
        return str(exc)
    return answer.rules


def narrowing(
    original: Sequence[Rule],
    revised: Sequence[Rule],
    others: Sequence[Rule] = (),
    opaque: frozenset[str] = BUILTIN_TABLE.opaque_roles,
) -> str | None:
    """None when ``revised`` only narrows ``original`` (module docstring), else what widens.

    An allow-list of edits, each one that can only take values away from an allow: anything
    else is refused, since the engine reads rules in more ways than one (first covering rule
    per value, the call as a whole, the first copy rule for a text, ``asks`` verbs splitting the
    request for every rule, every applicable rule's session update). ``opaque``: the roles
    nothing judges (the policy's role table), the only ones a new copy guard may read."""
    by_name = {rule.name: rule for rule in revised}
    if len(by_name) != len(revised):
        return "a rule name is used twice"
    kept = [r for r in original if r.name in by_name]
    for rule in original:
        if rule.name in by_name:
            continue
        if rule.then != "allow":
            return f"it drops rule {rule.name!r}"
        if rule.session is not None:  # every applicable rule's update runs: a cap's count
            return f"it drops rule {rule.name!r}, whose session update a cap may read"
        task = rule.when.task
        if task is not None and (task.asks or task.asks_none):  # its verbs split the request
            return f"it drops rule {rule.name!r}, whose asks split the request for every rule"
    if [r.name for r in revised if r.name in {k.name for k in kept}] != [r.name for r in kept]:
        return "it reorders the verified rules"
    copies = any(r.when.provenance and r.when.provenance.words for r in original)
    after = any(r.when.provenance and r.when.provenance.after_text for r in original)
    for rule in revised:
        old = next((r for r in original if r.name == rule.name), None)
        why = _new_rule(rule, copies, after, opaque) if old is None else _changed(old, rule)
        if why:
            return why
    return _added_counts(original, revised, others)


def _new_rule(rule: Rule, copies: bool, after: bool, opaque: frozenset[str]) -> str | None:
    if rule.then != "escalate":
        return f"its new rule {rule.name!r} does not escalate"
    task = rule.when.task
    if task is not None and (task.asks or task.asks_none):
        return f"its new rule {rule.name!r} names instructions (asks), which splits the request"
    provenance = rule.when.provenance
    if copies and provenance is not None and provenance.words is not None:
        # the first copy rule covering a text decides it: a new one could pre-empt the guard
        return f"its new rule {rule.name!r} is a second copy rule"
    # Only the two new rules the findings ask for: any other escalate rule (on a role, asking
    # while a count is low, a "cap" from zero) turns what no rule covered, a default deny, into
    # a question from the first call. A cap asks only once a count has reached one call or more.
    if after and provenance is not None and provenance.after_text is not None:
        return f"its new rule {rule.name!r} is a second rule on what was read before"
    if provenance is not None and provenance.on_text:
        # on a judged role (a payee) it would cover the value whenever the call's text copies
        # (a long copied memo saturates the runs: every value "copies"), asking about a value
        # no rule allowed under the memo's question
        if judged := sorted(set(provenance.roles) - opaque):
            return f"its new text rule {rule.name!r} reads {judged[0]!r}, a role the rules judge"
        return None
    if any(_bites_late(condition) for condition in rule.when.session or ()):
        return None
    return (
        f"its new rule {rule.name!r} is neither a cap (an escalate from a count of at least one "
        "call) nor a copy guard (provenance words): it would ask about what no rule covered"
    )


def _bites_late(condition) -> bool:
    """A count read as a floor only, holding at no count of zero: a cap."""
    if condition.count is None or condition.lt is not None or condition.lte is not None:
        return False
    return (
        condition.reaches is not None
        or (condition.gte is not None and condition.gte > 0)
        or (condition.gt is not None and condition.gt >= 0)
    )


def _changed(old: Rule, new: Rule) -> str | None:
    if old.then != "allow":  # escalate and deny rules are kept exactly
        if _dumped((new,)) != _dumped((old,)):
            return f"it changes {old.then} rule {old.name!r}"
        return None
    if new.then not in ("allow", "escalate"):
        return f"rule {new.name!r} decides {new.then!r}"
    if why := _widened(old, new):
        return f"rule {new.name!r}: {why}"
    return None


def _added_counts(
    original: Sequence[Rule], revised: Sequence[Rule], others: Sequence[Rule] = ()
) -> str | None:
    """A session update the revision adds may only count calls, and only on a counter every
        rule reads as a cap (an escalate from ``gt``/``gte``, an allow up to ``lt``/``lte``): a
        count then can only make a cap bite sooner. Any other reading (an escalate while a count is
        low, an allow from a floor) would hold more or less often the wrong way; a list extended or
        a sum added to could make a later allow hold. The counter must be a new one: the session
    counts equal updates once, so a count added to a verified counter could make two rules'
    updates equal and halve it."""
    before = {
        (rule.name, kind, repr(entry))
        for rule in original
        if rule.session is not None
        for kind in ("extend", "count", "add")
        for entry in getattr(rule.session, kind)
    }
    not_caps = {
        condition.count
        for rule in revised
        for condition in rule.when.session or ()
        if condition.count is not None and not _caps(rule, condition)
    }
    counted = {entry for rule in original if rule.session for entry in rule.session.count}
    # counters are the session's, not a server's: one any other server's rule counts or reads
    # is never new (a shop's cap counting "payments" would end the bank's "confirm the first")
    elsewhere = {entry for rule in others if rule.session for entry in rule.session.count}
    elsewhere |= {c.count for rule in others for c in rule.when.session or () if c.count}
    for rule in revised:
        if rule.session is not None and len(set(rule.session.count)) != len(rule.session.count):
            return f"rule {rule.name!r} counts one counter twice in its update"
        for kind in ("extend", "count", "add") if rule.session is not None else ():
            for entry in getattr(rule.session, kind):
                if (rule.name, kind, repr(entry)) in before:
                    continue
                if kind != "count":
                    return f"rule {rule.name!r} adds a session {kind!r} update (only counts)"
                if entry in not_caps:
                    return f"rule {rule.name!r} counts {entry!r}, which a rule reads as no cap"
                if entry in counted:  # equal updates count once: it could halve the counter
                    return f"rule {rule.name!r} counts {entry!r}, which a verified rule counts"
                if entry in elsewhere:
                    return f"rule {rule.name!r} counts {entry!r}, another server's counter"
    return None


def _caps(rule: Rule, condition) -> bool:
    floor = condition.gt is not None or condition.gte is not None or condition.reaches is not None
    ceiling = condition.lt is not None or condition.lte is not None
    if rule.then == "allow":
        return ceiling and not floor
    return floor and not ceiling


# New conditions an allow rule may gain: each a conjunct that only narrows what it covers or
# matches. Not ``task`` (``asks`` rescopes its @task: lists, and its verbs split the request
# for every rule) nor ``provenance`` (on a text, the first copy rule decides it, whatever its
# effect: an allow one placed before the guard would pre-empt it).
_NARROWING = frozenset(
    {"roles", "tool", "sideEffects", "paths", "domains", "lists", "numbers", "session"}
)


def _widened(old: Rule, new: Rule) -> str | None:
    """Why ``new``'s condition or update does not contain ``old``'s, or None."""
    was = old.when.model_dump(mode="json", by_alias=True, exclude_none=True)
    now = new.when.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in now.keys() - was.keys():
        if key not in _NARROWING:
            return f"it gains a {key!r} condition"
        if key in ("tool", "sideEffects") and old.session is not None:
            # its update runs for every call the rule applies to: fewer tools, fewer counts
            return f"it gains a {key!r} condition, and its session update would count less"
    for key, value in was.items():
        if key in ("lists", "numbers", "session"):
            if any(entry not in (now.get(key) or []) for entry in value):
                return f"it drops or changes a {key!r} entry"
        elif now.get(key) != value:
            return f"it changes its {key!r} condition"
    # a list entry on a role the rule's list entries did not name makes it cover that role
    # (``CompiledRule.may_cover``): only when it had none does a new entry only filter
    listed = {role for entry in was.get("lists", ()) for role in entry["roles"]}
    for entry in now.get("lists", ()):
        if listed and entry not in was["lists"] and not set(entry["roles"]) <= listed:
            return "it gains a 'lists' entry on a role it did not cover"
    # The session counts every entry of an update (a repeated one twice) and equal updates of
    # several rules once: adding, repeating, reordering or dropping an entry of a verified
    # rule's update can double or halve a counter. A cap counts its own calls (a new rule).
    if new.session != old.session:
        return "it changes its session update (a new cap rule counts its own calls)"
    return None


def _judged(
    server: str,
    findings: Sequence[Finding],
    candidate: Mapping[str, tuple[Rule, ...]],
    build: Callable[[Mapping[str, tuple[Rule, ...]]], Policy],
    check: Check,
) -> Hardening:
    before = len(findings)
    try:
        policy = build(candidate)
    except (CompileError, PolicyError, ValueError) as exc:
        return Hardening(server, before, before, False, f"the rules do not load: {exc}")
    failures = check(policy)
    if failures:
        first = failures[0]
        why = f"{first.description!r} expects {first.expected}, gets {first.got} ({first.rule})"
        return Hardening(server, before, before, False, why)
    after = len(_by_server(lint(policy)).get(server, ()))
    if after >= before:
        return Hardening(server, before, before, False, f"{after} finding(s) left, not fewer")
    return Hardening(server, before, after, True)
