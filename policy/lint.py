"""``lint(policy)``: the rules that let an injection choose a side effect's values.

A session-aware policy stops an injection when every value a side effect takes is one the user
gave in this task (a ``@task:`` list: typed, or a record the request describes) or one the
session approved (``@session:``). A rule that allows a value from a range, from a standing list
(accounts on file, ``@team``) or whatever it is, lets text the agent read pick it: the user typed
"refund 64.99", the injected receipt says 940, and a rule allowing amounts up to 1000 pays 940.
Such a rule may be exactly what the author wants (any standard category); the lint names it so
that the choice is made on purpose, not found by an attacker.

Two kinds of finding, both about tools with side effects only (reading changes nothing):

- ``unbound``: an ``allow`` rule that, for some role of the tool, can allow a value without
  comparing it with a ``@task:``/``@session:`` list; ``detail`` says what it allows instead.
  Rules that no call can reach for that role (after an unconditional deny or escalate of it)
  are not reported; path roles are left out (the sandbox and ``within`` bound them), and so are
  roles no rule judges (``opaque``, text that extracts nothing).
- ``uncapped``: no rule limits how often one task calls the tool (a deny or escalate on a
  ``count`` that calls of the tool increment): an injection can repeat the user's own call.
- ``words``: an ``allow`` rule that binds an identifier role matched case-insensitively (a
  name: an account, a category, a level) to ``@task:identifiers`` alone (every word the user
  typed, or of the rule's instructions) rather than to a listing's records: any word of the
  request is then a value of that role, so an account named like one of those words
  ("collaborator", "access") can be given what the user gave someone else.
- ``absent``: a top-level argument whose role a rule binds to the request, with no
  ``whenAbsent`` and not required by the tool's ``inputSchema`` (when the annotation has one):
  a call that leaves it out is judged without it, so the binding never runs and the server's
  default applies (an account on file, the last amount).
- ``numbers``: a text argument whose links or addresses the policy judges (``text-urls``,
  ``text-emails``) but not the phone numbers and IBANs in it (``text-phones``, ``text-ibans``):
  a message that may not link to an outsider can still tell its reader to call one or pay one.
- ``copies``: such a text argument (one whose links or addresses are judged) whose own text is
  an opaque role no rule asks about with ``provenance.words``: a message can then repeat an
  instruction an injection wrote ("paste who else is off into your reply", "ask them to send
  their IBAN to Greg") as long as it holds no link or number.
- ``others``: a listing whose records are described by several fields, none declared
  ``writtenByOthers``: if someone other than the user writes one of them (a reason, a display
  name, a note), an insider who writes the user's words there outranks the record the user
  meant. Declaring them, or accepting the finding, records the decision.
- ``owners``: a listing whose ``ownedBy`` admits several owners and does not say which are the
  user (``mine``): two records of one owner are then told apart by the words alone, so an owner
  who is not the user (a colleague's second, inflated claim) can name one in more of the user's
  words than the one meant and have it bound without a question. ``"mine": ["@me"]`` (or
  ``[]``: none is the user) makes the human confirm such a record.

- ``unjudged``: an argument of a side effect whose only role is ``none`` (and whose value
  selects no other argument's roles): no rule judges it, so any value passes (round 12: a merge
  method, a payslip month ``all``). The shipped servers' arguments are not reported: their
  roles are reviewed with their code.

Static: it reads the rules and annotations, never a session. Pure; no I/O.
"""

from __future__ import annotations

from typing import NamedTuple

from policy.loader import Policy
from policy.models import ConditionalRoles, arg_roles
from policy.role_specs import SHIPPED_SERVERS
from policy.rules import CompiledRule, ToolPlan
from policy.session_state import is_session_list
from policy.task_binding import owner_values

__all__ = ["Finding", "lint"]

WORDS = "@task:identifiers"  # every word the user typed (of the rule's instructions, with asks)


class Finding(NamedTuple):
    kind: str  # unbound, uncapped, words, absent, numbers, copies, others, owners, unjudged
    server: str
    tool: str
    # None for "uncapped", "others", "owners" and a "copies" text with no role of its own; for
    # "absent", the argument's role; for "numbers" and "unjudged", the argument
    role: str | None
    rule: str | None  # the allow rule, None for "uncapped"
    detail: str

    def line(self) -> str:
        where = f"{self.server}/{self.tool}" + (f" {self.role}" if self.role else "")
        named = f" rule {self.rule!r}:" if self.rule else ""
        return f"{self.kind:9} {where}:{named} {self.detail}"


def lint(policy: Policy) -> list[Finding]:
    """Every finding, tool by tool in the annotations' order, roles in name order."""
    findings: list[Finding] = []
    for server, tools in policy.annotations.items():
        for name in tools:
            findings.extend(_others(policy, server, name))
            findings.extend(_owners(policy, server, name))
            plan = policy.plan_for(server, name)
            if plan is None or not plan.side_effects:
                continue
            findings.extend(_unbound(policy, server, name, plan))
            findings.extend(_words(policy, server, name, plan))
            findings.extend(_absent(policy, server, name, plan))
            findings.extend(_numbers(policy, server, name))
            findings.extend(_copies(policy, server, name, plan))
            findings.extend(_unjudged(policy, server, name))
            if _task_gated(plan) and not _capped(plan):
                detail = (
                    "no rule limits how many calls one task makes (a deny or escalate on a "
                    "'count' these calls increment): an injection can repeat the user's call"
                )
                findings.append(Finding("uncapped", server, name, None, None, detail))
    return findings


def _unbound(policy: Policy, server: str, tool: str, plan: ToolPlan) -> list[Finding]:
    table = policy.roles
    found: list[Finding] = []
    for role in sorted(plan.possible_roles):
        if role in table.opaque_roles or role in table.path_roles:
            continue
        for rule in plan.rules_for(role):
            if rule.effect == "allow":
                detail = _what_it_allows(rule, role, policy)
                if detail is not None:
                    found.append(Finding("unbound", server, tool, role, rule.name, detail))
            elif _unconditional(rule):
                break  # every later rule for this role is unreachable
    return found


def _words(policy: Policy, server: str, tool: str, plan: ToolPlan) -> list[Finding]:
    table = policy.roles
    records = {
        f"@{a.records.grants}" for tools in policy.annotations.values() for a in tools.values()
        if a.records is not None
    }  # fmt: skip
    found: list[Finding] = []
    for role in sorted(plan.possible_roles):
        spec = table.specs.get(role)
        if spec is None or spec.kind != "identifier" or spec.effective_match != "case-insensitive":
            # an account, a category, a level: a name matched as a word. An IBAN, a phone
            # number or a range (matched exactly) is no word someone else's text can make one.
            continue
        for rule in plan.rules_for(role):
            if rule.effect != "allow":
                if _unconditional(rule):
                    break
                continue
            conditions = [c for c in rule.rule.when.lists or () if role in c.roles]
            if not conditions or any(
                WORDS not in c.allowed or set(c.allowed) & records for c in conditions
            ):
                continue  # some condition holds the value to a listing or without every word
            scope = " of the instructions it asks for" if rule.rule.when.task else ""
            detail = (
                f"allows any word the user typed{scope} as {role}: where such a value can be an "
                "ordinary word (an account name, a category), a word typed for another purpose "
                "is allowed too ('add mira-t as a collaborator with write access' allows the "
                "accounts 'collaborator' and 'access'); bind it to @task:described-object (the "
                "words of the instructions' objects: 'mira-t') or a standing list, or accept "
                "this finding where no such word can do harm"
            )
            found.append(Finding("words", server, tool, role, rule.name, detail))
    found += _named_ids(policy, server, tool, plan)
    return found


def _named_ids(policy: Policy, server: str, tool: str, plan: ToolPlan) -> list[Finding]:
    """An allow rule that takes a role from a listing's records and from @task:identifiers,
    where the records' id is one of their describedBy fields: a name their maker chose (a
    bucket's), so any word the user typed ("press", "exports") is an id someone can create."""
    chosen = {
        f"@{a.records.grants}": name
        for tools in policy.annotations.values()
        for name, a in tools.items()
        if a.records is not None and a.records.id in a.records.described_by
    }
    found: list[Finding] = []
    if not chosen:
        return found
    for role in sorted(plan.possible_roles):
        for rule in plan.rules_for(role):
            if rule.effect != "allow":
                continue
            for condition in rule.rule.when.lists or ():
                listing = next((chosen[e] for e in condition.allowed if e in chosen), None)
                if role not in condition.roles or WORDS not in condition.allowed or not listing:
                    continue
                detail = (
                    f"allows any word the user typed as {role}, and {listing}'s ids are names "
                    "their makers choose: someone can create one named like a word of the "
                    "request ('make the press kit one public' allows a bucket named 'press'); "
                    "leave @task:identifiers out (a record the request describes is bound "
                    "through the listing) or accept this finding"
                )
                found.append(Finding("words", server, tool, role, rule.name, detail))
                break
    return found


def _absent(policy: Policy, server: str, tool: str, plan: ToolPlan) -> list[Finding]:
    table = policy.roles
    found: list[Finding] = []
    annotation = policy.annotations[server][tool]
    schema = annotation.input_schema or {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    for key, spec in annotation.args.items():
        if "." in key or "[]" in key or key in required:
            continue  # whenAbsent is for top-level arguments; the schema makes a call carry it
        if isinstance(spec, ConditionalRoles):
            if spec.when_absent:
                continue
            roles = spec.default
        else:
            roles = spec
        for role in roles:
            if role in table.opaque_roles or role in table.path_roles or role in table.extracting:
                continue  # text left out carries no link
            if any(_binds(rule, role) for rule in plan.rules_for(role) if rule.effect == "allow"):
                detail = (
                    f"a call without {key!r} is judged without it (the rules binding {role} to "
                    f"the request never run): give {key!r} whenAbsent roles, so that leaving it "
                    "out is an unknown value your rules by role refuse or ask about"
                )
                found.append(Finding("absent", server, tool, role, None, detail))
                break
    return found


def _numbers(policy: Policy, server: str, tool: str) -> list[Finding]:
    kinds = policy.roles.extracting
    found: list[Finding] = []
    for key, spec in policy.annotations[server][tool].args.items():
        roles = spec.default if isinstance(spec, ConditionalRoles) else spec
        extracted = {kinds[role] for role in roles if role in kinds}
        if extracted & {"urls", "emails"} and not extracted & {"phones", "ibans"}:
            detail = (
                f"the links or addresses in {key!r} are judged, not a phone number or IBAN in "
                "it: add the text-phones and text-ibans roles (and provenance rules for them) "
                "so a message cannot tell its reader to call or pay someone an injection named"
            )
            found.append(Finding("numbers", server, tool, key, None, detail))
    return found


def _copies(policy: Policy, server: str, tool: str, plan: ToolPlan) -> list[Finding]:
    kinds, opaque = policy.roles.extracting, policy.roles.opaque_roles
    found: list[Finding] = []
    for key, spec in policy.annotations[server][tool].args.items():
        roles = spec.default if isinstance(spec, ConditionalRoles) else spec
        if not {kinds[role] for role in roles if role in kinds} & {"urls", "emails"}:
            continue
        texts = [role for role in roles if role in opaque]
        if not texts:
            detail = (
                f"the text of {key!r} is judged only by the links and addresses in it, and no "
                "role names the text itself: declare one (kind opaque, e.g. message-text), give "
                f'{key!r} it, and add a rule on it with "provenance": {{"roles": [it], '
                '"from": "untrusted", "words": 4} (escalate), so a message that repeats what a '
                'result wrote is put to the user (and one with "afterText": 1 for one that may '
                "say it in other words)"
            )
            found.append(Finding("copies", server, tool, None, None, detail))
        for role in texts:
            asked = any(
                rule.provenance is not None and rule.provenance.words is not None
                for rule in plan.rules_for(role)
            )
            if not asked:
                detail = (
                    f"the text of {key!r} is judged only by the links and addresses in it: add "
                    f'a rule on {role} with "provenance": {{"roles": ["{role}"], "from": '
                    '"untrusted", "words": 4} (escalate), so a message that repeats what a '
                    'result wrote is put to the user (and one with "afterText": 1 for one that '
                    "may say it in other words)"
                )
                found.append(Finding("copies", server, tool, role, None, detail))
    return found


def _unjudged(policy: Policy, server: str, tool: str) -> list[Finding]:
    if server in SHIPPED_SERVERS:
        return []  # their roles are reviewed with their code: a file's content is data
    found: list[Finding] = []
    args = policy.annotations[server][tool].args
    selecting = {
        clause.arg for spec in args.values() if isinstance(spec, ConditionalRoles)
        for clause in spec.when
    }  # fmt: skip
    for key, spec in args.items():
        if arg_roles(spec) != {"none"} or key in selecting:
            # judged by a role (for some calls, at least: a conditional's clause), or its
            # value chooses another argument's roles (a note's text is judged when public)
            continue
        detail = (
            f"{key!r} has no role but none, so no rule judges it: whatever value the agent "
            "gives passes (round 12's attacks: a merge method the user did not ask for, a "
            "payslip month 'all'); give it a role (an identifier) and rules — allow the values "
            "the request names (@task:identifiers) or a fixed list, escalate the rest — or "
            "accept this finding if no value of it can do harm"
        )
        found.append(Finding("unjudged", server, tool, key, None, detail))
    return found


def _others(policy: Policy, server: str, tool: str) -> list[Finding]:
    records = policy.annotations[server][tool].records
    if records is None or len(records.described_by) < 2 or records.written_by_others:
        return []
    fields = ", ".join(records.described_by)
    detail = (
        f"its records are described by {fields}: if someone other than the user writes one of "
        "them, declare it in writtenByOthers (else accept this finding), so that an insider who "
        "writes the user's words there does not outrank the record the user meant"
    )
    return [Finding("others", server, tool, None, None, detail)]


def _owners(policy: Policy, server: str, tool: str) -> list[Finding]:
    records = policy.annotations[server][tool].records
    owned = records.owned_by if records is not None else None
    if owned is None or owned.mine is not None:
        return []
    admitted = owner_values(owned.in_, policy.lists)
    if len(admitted) < 2:
        return []  # one owner: the user's records, or no one's
    detail = (
        f"ownedBy admits {len(admitted)} owners ({', '.join(owned.in_)}) and names none as the "
        "user: two records of one owner are told apart by the words alone, so an owner who is "
        "not the user can name a second record in more of the user's words and have it bound "
        'unasked; declare "mine" (the owners that are the user, [] if none is)'
    )
    return [Finding("owners", server, tool, None, None, detail)]


def _binds(rule: CompiledRule, role: str) -> bool:
    """Whether the rule allows a value of ``role`` only from a session list."""
    return any(
        role in condition.roles and all(_session_entry(e) for e in condition.allowed)
        for condition in rule.rule.when.lists or ()
    )


def _what_it_allows(rule: CompiledRule, role: str, policy: Policy) -> str | None:
    """None when the rule allows a value of ``role`` only from a session list; else in words
    what it allows."""
    conditions = [c for c in rule.rule.when.lists or () if role in c.roles]
    if conditions:
        # Every list condition must hold: one that reads only session lists binds the value.
        if _binds(rule, role):
            return None
        looses = [[e for e in c.allowed if not _session_entry(e)] for c in conditions]
        if any(_choices(loose, policy) <= 1 for loose in looses):
            return None  # nothing to choose between: the value is the author's
        loose = min(looses, key=lambda entries: _choices(entries, policy))
        shown = ", ".join(_shown_entry(entry, policy) for entry in loose)
        return f"allows any value of {shown}, whichever one the user meant"
    domains = rule.rule.when.domains
    if domains is not None and role in domains.roles:
        loose = [entry for entry in domains.allowed if not _session_entry(entry)]
        if not loose:
            return None
        shown = ", ".join(_shown_entry(entry, policy) for entry in loose)
        return f"allows any address in the domains {shown}"
    bounds = [nc for roles, nc in rule.number_conditions if role in roles]
    if bounds:
        return f"allows any number {_shown_bounds(bounds)}, not compared with what the user typed"
    if rule.provenance is not None and role in rule.provenance.roles:
        return f"allows any value holding text from a {rule.provenance.from_!r} result"
    return "allows any value at all"


def _choices(entries: list[str], policy: Policy) -> int:
    values: set[str] = set()
    for entry in entries:
        if entry.startswith("@"):
            values.update(policy.lists.get(entry[1:], ()))
        elif "*" in entry:
            return 2  # a pattern: many values
        else:
            values.add(entry)
    return len(values)


def _session_entry(entry: str) -> bool:
    return entry.startswith("@") and is_session_list(entry[1:])


def _shown_entry(entry: str, policy: Policy) -> str:
    if not entry.startswith("@"):
        return repr(entry)
    values = policy.lists.get(entry[1:])
    count = "undefined" if values is None else f"{len(values)} values"
    return f"{entry} ({count})"


def _shown_bounds(bounds: list) -> str:
    words = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    parts = [
        f"{sign} {value:g}"
        for condition in bounds
        for field, sign in words.items()
        if (value := getattr(condition, field)) is not None
    ]
    return " and ".join(parts) if parts else "(no bounds)"


def _unconditional(rule: CompiledRule) -> bool:
    """A deny/escalate that decides every value of the role it covers, whatever the call."""
    when = rule.rule.when
    return not (
        rule.list_conditions
        or rule.number_conditions
        or rule.provenance is not None
        or when.domains is not None
        or when.paths is not None
        or when.task is not None
        or when.session
    )


def _task_gated(plan: ToolPlan) -> bool:
    """Whether the policy ties the tool to the task: a rule that can decide its calls has a
    ``task`` condition or compares one of its roles with a ``@task:``/``@session:`` list. Then
    repeating it is a finding; a policy that judges each call alone has no "user's call" to
    repeat."""
    roles = plan.possible_roles
    for rule in plan.unscoped:
        if rule.role_bearing and not any(rule.may_cover(role) for role in roles):
            continue  # its role conditions name none of this tool's roles
        when = rule.rule.when
        entries = [
            entry
            for condition in (*(when.lists or ()), *((when.domains,) if when.domains else ()))
            if roles.intersection(condition.roles)
            for entry in condition.allowed
        ]
        if when.task is not None or any(_session_entry(entry) for entry in entries):
            return True
    return False


def _capped(plan: ToolPlan) -> bool:
    """A deny/escalate applying to the tool, on a counter that its calls increment (a rule's
    ``session`` update counts for every call the rule applies to)."""
    counted = {
        name for rule in plan.unscoped if rule.rule.session for name in rule.rule.session.count
    }
    return any(
        rule.effect != "allow"
        and any(
            condition.count in counted and _bites(condition)
            for condition in rule.session_conditions
        )
        for rule in plan.unscoped
    )


MAX_CAP = 1000  # calls in one task: a larger bound limits nothing an injection needs


def _bites(condition) -> bool:
    """A floor (gt/gte) a counter can reach within MAX_CAP calls."""
    if condition.reaches is not None:
        return True  # a cap of what the request asked for
    floor = condition.gte if condition.gte is not None else condition.gt
    return floor is not None and floor <= MAX_CAP
