"""``evaluate(call, policy, context) -> Decision``: the one decision function.

Order, each step able to end the evaluation:

1. unknown tool → deny ``structural-unknown-tool``; ``filesystem/list_allowed_directories``
   with no arguments → allow ``structural-introspection-allow`` (IronCurtain's)
2. arguments not fitting the annotation → deny ``invalid-arguments``
3. a path value that is protected (or, for a writing or deleting role, that holds protected
   files) → deny ``structural-protected-path``, whatever the rules say
4. read/write/delete-path values inside the sandbox → discharged, ``structural-sandbox-allow``
   except a write or delete into a git directory (named ``.git``, or shaped like one:
   ``HEAD``/``commondir``/``gitdir``, or ``objects`` and ``refs``) →
   ``structural-git-internals-escalate`` (rules still run: a rule's deny beats it)
   ``write-history`` values inside the sandbox are discharged too (``sandbox_history``
   "additive", the default: commit, branch, tag lose nothing); ``delete-history`` values there
   that no rule covers → ``structural-sandbox-history-escalate`` (``"allow"`` discharges both,
   as IronCurtain does; ``"escalate"`` neither)
5. URL values outside the server's domain gate → ``structural-domain-escalate`` (rules still
   run for them: a rule's deny beats the gate's escalate, a rule's allow does not)
6. every other value: the first rule covering its role and value decides it; none →
   ``default-deny``. The strictest outcome wins (deny > escalate > allow); among equals, the first
   in argument order names the rule. A call with no role values is decided by the first rule
   without role conditions that applies to the tool, else ``default-deny``. Opaque roles
   (``none``, ``branch-name``, ``commit-message``, declared opaque roles) are never judged. A
   ``lists`` entry on roles other than the judged value's must hold for every value of those
   roles in the call (owner AND repo).

The function is total: an unexpected failure (a resolver that raises, say) denies as
``engine-error`` and never escapes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from policy.domains import DomainSet, Host, host_of, repo_key
from policy.facts import CallFacts, ValueKind
from policy.loader import Policy
from policy.models import ArgumentError, Decision, EvalContext, ToolCall
from policy.paths import ProtectedPaths, absolute, components, is_env_file
from policy.roles import RoleValue
from policy.rules import CompiledRule, RecordLinked, ToolPlan, number_in_range
from policy.session_state import MAX_TEXT_WORDS, copied_run, request_words, written_after

__all__ = ["evaluate"]

_SEVERITY = {"allow": 0, "escalate": 1, "deny": 2}
# Roles whose action on a folder would carry protected files along with it.
_DESTRUCTIVE = frozenset({"write-path", "delete-path", "write-history", "delete-history"})


class _Outcome(NamedTuple):
    effect: str
    rule: str
    reason: str
    role: str


class _Resolved(NamedTuple):
    lexical: tuple[str, ...]
    real: tuple[str, ...]


def evaluate(call: ToolCall, policy: Policy, context: EvalContext) -> Decision:
    try:
        return _decide(call, policy, context)
    except Exception as exc:
        # ``error`` is for the audit; the agent reads only the reason.
        return Decision(
            decision="deny",
            rule="engine-error",
            reason="the policy engine failed on this call",
            error=f"{type(exc).__name__}: {exc}"[:500],
        )


def _decide(call: ToolCall, policy: Policy, context: EvalContext) -> Decision:
    plan = policy.plan_for(call.server, call.tool)
    if plan is None:
        reason = (
            f"{call.server}/{call.tool} has no annotation, so the policy cannot judge it; the "
            f"user can annotate it with `ironcurtain servers annotate {call.server}`"
        )
        return _deny("structural-unknown-tool", reason)
    if call.tool == _INTROSPECTION and call.server == "filesystem" and not call.arguments:
        # it reveals only what the user configured: always allowed (IronCurtain's rule)
        return _decision("allow", INTROSPECTION_RULE, "introspection tool is always allowed")
    table = policy.roles
    path_roles, sandbox_roles, url_roles = table.path_roles, table.sandbox_roles, table.url_roles
    try:
        values = plan.arguments.extract(call.arguments)
    except ArgumentError as exc:
        return _deny("invalid-arguments", str(exc))
    view = _CallView(context, call.server)
    view.path_roles = path_roles
    view.value_kinds = table.value_kinds
    if view.base is None:
        for item in values:
            if item.role in path_roles and item.value is not None and _relative(item.value):
                reason = f"{item.where}: give an absolute path (relative to what is unknown here)"
                return _deny("invalid-arguments", reason, view.facts(values))
    for item in values:
        if item.value is not None and item.role in path_roles:
            problem = view.protection(item.value, item.role)
            if problem:
                reason = f"{item.where}: {problem}"
                return _deny("structural-protected-path", reason, view.facts(values))
    judged = [item for item in values if item.role not in table.opaque_roles]
    outcomes = _copied_texts(plan, values, view, table.opaque_roles)
    for outcome in outcomes:
        if outcome.effect == "deny":
            return _deny(outcome.rule, outcome.reason, view.facts(values))
    if not judged:
        decision = _call_level(plan, call.tool, values, view)
        asked = next((o for o in outcomes if o.effect == "escalate"), None)
        if asked is not None and decision.decision == "allow":
            # an earlier rule that allows the call does not excuse a text that copies
            return _decision("escalate", asked.rule, asked.reason, facts=view.facts(values))
        return decision
    gate = view.gate(call.server)
    for item in judged:
        discharged = item.role in sandbox_roles or (
            item.role in _DISCHARGED_HISTORY[view.context.sandbox_history]
        )
        if discharged and view.in_sandbox(item.value):
            internals = view.git_internals(item.value, item.role)
            if internals is None:
                reason = f"{item.where} is inside the session sandbox"
                outcomes.append(_Outcome("allow", "structural-sandbox-allow", reason, item.role))
                continue
            reason = (
                f"{item.where}: {_show(item.value)} is inside {_show(internals)}, which is a git "
                "directory (by its name or its shape: HEAD, commondir, gitdir, or objects and "
                "refs); its files decide what git runs and reads, so a human must approve"
            )
            outcomes.append(_Outcome("escalate", GIT_INTERNALS_RULE, reason, item.role))
        if gate is not None and item.role in url_roles and not view.domain_ok(gate, item):
            reason = f"{item.where}: {_show(item.value)} is outside this server's allowed domains"
            outcomes.append(_Outcome("escalate", "structural-domain-escalate", reason, item.role))
        outcome = _judge(plan, item, view, values)
        history = outcome.rule == "default-deny" and item.role in _HISTORY_ROLES
        if history and view.in_sandbox(item.value):
            outcome = _sandbox_history(item)
        if outcome.effect == "deny":
            return _deny(outcome.rule, outcome.reason, view.facts(values))
        outcomes.append(outcome)
    return _combine(outcomes, view.facts(values))


def _copied_texts(
    plan: ToolPlan, values: list[RoleValue], view: _CallView, opaque: frozenset[str]
) -> list[_Outcome]:
    """An opaque value (a message's text) no other rule reads is judged by the rules that ask
    whether it copies a result (``provenance`` with ``words``): the first that holds decides
    it; when none does, it is not judged, as before. Each value on its own, whatever other
    values of its role the call has, and whatever rule allows the call."""
    found: list[_Outcome] = []
    session = view.context.session
    for item in values:
        if item.role not in opaque or item.value is None:
            continue
        for rule in plan.rules_for(item.role):
            condition = rule.provenance
            if condition is None or not condition.on_text or not _covers(rule, item, view, values):
                continue
            label = f"{'an' if condition.from_[0] in 'aeiou' else 'a'} {condition.from_}"
            if condition.after_text is not None:
                if not written_after(item.value, condition.from_, session, condition.after_text):
                    continue
                what = _written_after(condition.after_text, label, session, condition.from_)
                found.append(
                    _Outcome(
                        rule.effect, rule.name, f"{rule.reason} ({item.where} {what})", item.role
                    )
                )
                break
            typed = request_words(session)
            size = copied_run(item.value, condition.from_, session, condition.words, typed)
            what = (
                f"repeats {size} words in a row that {label} result wrote"
                if size > 0
                else f"may repeat {label} result: more of them were read than are kept"
            )
            found.append(
                _Outcome(rule.effect, rule.name, f"{rule.reason} ({item.where} {what})", item.role)
            )
            break
    return found


def _written_after(words: int, label: str, state, from_: str) -> str:
    read = state.read.get(from_, 0) if state is not None else 0
    if read >= words:
        size = f"{read}{' or more' if read >= MAX_TEXT_WORDS else ''}"
        return (
            f"was written after the agent read a text of {size} words in {label} result "
            f"(this rule asks from {words}): an instruction in it, reworded, copies none of them"
        )
    # saturated: more was read than is kept, or a resumed session read such a result before
    return f"was written after the agent read {label} result this session no longer measures"


def _call_level(plan: ToolPlan, tool: str, values: list[RoleValue], view: _CallView) -> Decision:
    """A call with no judged value: the first applicable rule whose conditions hold for the
    call as a whole (a ``roles`` condition: the tool has such an argument; ``paths``,
    ``domains``, ``lists``: the call has values of those roles and every one matches)."""
    facts = view.facts(values)
    limit: CompiledRule | None = None  # the first session limit that holds (see _first)
    for rule in plan.unscoped:
        if rule.provenance is not None and rule.provenance.on_text:
            # a copy rule judges a text (``_copied_texts``), never the call: a copy that asks
            # does not stand in for the rule that would allow the call, nor for the default deny
            continue
        if rule.role_bearing:
            holds = _whole_call(rule, plan, values, view)
        elif rule.session_conditions or rule.task_condition:
            # Not role-bearing, yet conditional: its counters, sums or task words must hold
            # (a tool with no judged argument used to take such a rule as holding).
            holds = rule.session_holds(None, values, view.context.session)
        else:
            holds = True
        if holds:
            if _limit(rule):
                limit = limit or rule
                continue
            if rule.effect != "deny" and limit is not None:
                rule = limit
            return _decision(rule.effect, rule.name, rule.reason, facts=facts)
    return _deny("default-deny", f"no rule permits {tool}; denied by default", facts)


def _whole_call(
    rule: CompiledRule, plan: ToolPlan, values: list[RoleValue], view: _CallView
) -> bool:
    # A roles condition holds for a tool annotated with one of the roles, or for a call whose
    # arguments carry one: a role a ``when`` clause gives (``text`` is a public post when
    # ``mode`` is "public") is the call's, not the annotation's.
    if (
        rule.roles is not None
        and rule.roles.isdisjoint(plan.annotated_roles)
        and not any(v.role in rule.roles for v in values)
    ):
        return False
    for roles in (rule.path_roles, rule.domain_roles):
        if roles is not None:
            found = [v for v in values if v.role in roles]
            if not found or not all(_covers(rule, v, view, values) for v in found):
                return False
    for roles, match_type, matcher in rule.list_conditions:
        found = [v for v in values if v.role in roles]
        if not found or not all(_listed(matcher, match_type, v, view, values) for v in found):
            return False
    for roles, condition in rule.number_conditions:
        found = [v for v in values if v.role in roles]
        if not found or not all(number_in_range(v.value, condition) for v in found):
            return False
    if rule.provenance is not None or rule.session_conditions or rule.task_condition:
        return rule.session_holds(None, values, view.context.session)
    return True


def _sandbox_history(item: RoleValue) -> _Outcome:
    """A history role inside the sandbox, not discharged, that no rule covers: never a silent
    default deny, a human decides.

    By default (``sandbox_history="additive"``) only ``delete-history`` gets here: a reset, a
    forced checkout or a branch delete discards work that may be the user's own (the sandbox
    can be their project folder), and nothing brings it back. ``write-history`` (commit,
    branch, tag, merge) loses nothing and is discharged like the other sandbox roles; the git
    server runs no repository-controlled code for either. ``"allow"`` discharges both, as
    IronCurtain does; ``"escalate"`` neither."""
    what = "discards work" if item.role == "delete-history" else "changes history"
    reason = (
        f"{item.where}: {item.role} inside the session sandbox ({what}) and no rule covers it; "
        "a human decides (setting: sandboxHistory 'allow' discharges it)"
    )
    return _Outcome("escalate", SANDBOX_HISTORY_RULE, reason, item.role)


def _judge(plan: ToolPlan, item: RoleValue, view: _CallView, values: list[RoleValue]) -> _Outcome:
    return _first(plan.rules_for(item.role), item, view, values)


def _first(
    rules: Sequence[CompiledRule], item: RoleValue, view: _CallView, values: list[RoleValue]
) -> _Outcome:
    """The first rule that covers the value decides it; a session limit (``_limit``) only
    when the rules after it do not refuse the value."""
    limit: _Outcome | None = None  # the first session limit that covers it
    for rule in rules:
        if _covers(rule, item, view, values):
            reason = f"{rule.reason} ({item.where}: {_show(item.value)})"
            found = _Outcome(rule.effect, rule.name, reason, item.role)
            if _limit(rule):
                limit = limit or found
                continue
            return found if found.effect == "deny" or limit is None else limit
    return _default_deny(item)


def _default_deny(item: RoleValue) -> _Outcome:
    reason = f"no rule permits {item.role} {_show(item.value)} ({item.where}); denied by default"
    return _Outcome("deny", "default-deny", reason, item.role)


def _limit(rule: CompiledRule) -> bool:
    """An escalate rule on the session's counters or sums (a cap: "ask before a second
    message"; a budget: "ask past 1,000 spent"; "confirm the first payment"). It asks about
    what the rules after it would allow, never about what they refuse: a value no rule allows
    is refused once the cap is reached, as before it, and the human is not asked to approve
    it (first match alone made every value of a capped tool a question, the refused ones
    too)."""
    return rule.effect == "escalate" and any(c.size is None for c in rule.session_conditions)


def _covers(rule: CompiledRule, item: RoleValue, view: _CallView, values: list[RoleValue]) -> bool:
    if rule.within is not None:
        if item.value is None or item.role not in view.path_roles:
            return False
        root = view.root(rule.within)
        if view.path(item.value).real[: len(root)] != root:
            return False
    if rule.domains is not None and not view.domain_ok(rule.domains, item):
        return False
    for roles, match_type, matcher in rule.list_conditions:
        if item.role in roles:
            if not _listed(matcher, match_type, item, view, values):
                return False
            continue
        # An entry on other roles (owner AND repo): every value the call has for them must
        # match, and it must have one (IronCurtain's multi-identifier rules).
        others = [other for other in values if other.role in roles]
        if not others or not all(_listed(matcher, match_type, o, view, values) for o in others):
            return False
    if not all(number_in_range(item.value, cond) for _, cond in rule.number_conditions):
        return False
    if rule.provenance is not None or rule.session_conditions or rule.task_condition:
        return rule.session_holds(item, values, view.context.session)
    return True


def _listed(
    matcher: object, match_type: str, item: RoleValue, view: _CallView, values: list[RoleValue]
) -> bool:
    linked = matcher if isinstance(matcher, RecordLinked) else None
    if linked is not None:
        matcher = linked.inner
    if match_type == "domains":
        found = view.domain_ok(matcher, item)  # type: ignore[arg-type]
    else:
        found = matcher.matches(item.value)  # type: ignore[attr-defined]
    if found and linked is not None:
        # ofRecord: the value of the record the call names ("amount" of "expense")
        records = [v.value for v in values if v.role == linked.role and v.value is not None]
        return linked.linked(item.value, records)
    return found


def _combine(outcomes: list[_Outcome], facts: CallFacts) -> Decision:
    if len(outcomes) == 1:
        only = outcomes[0]
        escalated = (only.role,) if only.effect == "escalate" else ()
        return _decision(only.effect, only.rule, only.reason, escalated, facts)
    worst = max(outcomes, key=lambda o: _SEVERITY[o.effect])
    first = next(o for o in outcomes if o.effect == worst.effect)
    escalated: tuple[str, ...] = ()
    if worst.effect == "escalate":
        escalated = tuple(dict.fromkeys(o.role for o in outcomes if o.effect == "escalate"))
    return _decision(first.effect, first.rule, first.reason, escalated, facts)


def _decision(
    effect: str,
    rule: str,
    reason: str,
    escalated: tuple[str, ...] = (),
    facts: CallFacts | None = None,
) -> Decision:
    # Every field is built here from validated parts (a rule's effect, ids, str reasons, a tuple
    # of role names, facts built by _CallView): the tuple is made in C, no Python frame.
    return _new_decision((effect, rule, reason, escalated, None, facts))


def _deny(rule: str, reason: str, facts: CallFacts | None = None) -> Decision:
    return _decision("deny", rule, reason, facts=facts)


def _show(value: str | None) -> str:
    if value is None:
        return "(not given: unknown)"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# CallFacts from its one field, as CallFacts._make makes it but without a Python frame
# (tuple.__new__ is C): one per decision.
_new_facts = functools.partial(tuple.__new__, CallFacts)
_new_decision = functools.partial(tuple.__new__, Decision)
_GIT_INTERNAL_ROLES = frozenset({"write-path", "delete-path"})
_HISTORY_ROLES = frozenset({"write-history", "delete-history"})
# sandboxHistory -> the history roles the sandbox discharges
_DISCHARGED_HISTORY = {
    "additive": frozenset({"write-history"}),
    "allow": _HISTORY_ROLES,
    "escalate": frozenset(),
}
GIT_INTERNALS_RULE = "structural-git-internals-escalate"
SANDBOX_HISTORY_RULE = "structural-sandbox-history-escalate"
INTROSPECTION_RULE = "structural-introspection-allow"
_INTROSPECTION = "list_allowed_directories"


class _CallView:
    """One call's resolved values (each path resolved once), over the context's lasting memo."""

    def __init__(self, context: EvalContext, server: str) -> None:
        self.context = context
        self.path_roles: frozenset[str] = frozenset()  # the policy's path roles (its role table)
        self.value_kinds: Mapping[str, ValueKind] = {}  # role -> what its values are
        default = context.sandbox or context.home
        self.base = context.path_bases.get(server, default) if context.path_bases else default
        # Straight to pydantic's private storage: the attribute hook costs more than the lookup.
        self.memo = context.__pydantic_private__["_memo"]
        self._paths: dict[str, _Resolved] = {}
        self._hosts: dict[str, Host | None] = {}
        self._checks: dict[str, list[tuple[tuple[str, ...], bool, bool]]] = {}

    def path(self, raw: str) -> _Resolved:
        found = self._paths.get(raw)
        if found is None:
            ctx = self.context
            full = absolute(raw, ctx.home, self.base or ctx.home)
            resolved = _resolve(ctx, full)
            real = components(resolved)
            # The common answer, a path with no link on the way, is the path itself: split once.
            found = _Resolved(real if resolved == full else components(full), real)
            self._paths[raw] = found
        return found

    def facts(self, values: list[RoleValue]) -> CallFacts:
        """What this evaluation established, for the stages after the decision: every value,
        each path as it was resolved here (a path the evaluation never reached stays
        unresolved: no I/O happens for the facts alone), each URL's host."""
        kinds, paths, rows = self.value_kinds, self._paths, []
        for role, value, where in values:  # one tight loop: this runs for every decision
            kind = kinds.get(role, "opaque")
            real = host = None
            if value is not None:
                if kind == "path":
                    resolved = paths.get(value)
                    real = None if resolved is None else "/" + "/".join(resolved.real)
                elif kind == "url":
                    parsed = self.host(value)
                    host = None if parsed is None else parsed.name
            rows.append((role, kind, value, where, real, host))
        return _new_facts((tuple(rows),))

    def host(self, value: str | None) -> Host | None:
        if value is None:
            return None
        if value not in self._hosts:
            self._hosts[value] = host_of(value)
        return self._hosts[value]

    def domain_ok(self, domains: DomainSet, item: RoleValue) -> bool:
        """The value's host is allowed, or (a git remote) its repository: ``host/owner/repo``
        patterns match only git remotes, as IronCurtain's do."""
        if domains.matches(self.host(item.value)):
            return True
        if not domains.repos or item.role != "git-remote-url":
            return False
        return repo_key(item.value) in domains.repos

    def protection(self, raw: str, role: str) -> str | None:
        for parts, hit, holds_protected in self._checked(raw):
            if hit:
                return f"{_show('/' + '/'.join(parts))} is protected and never accessible"
            if holds_protected and role in _DESTRUCTIVE:
                return f"{_show('/' + '/'.join(parts))} holds protected files ({role})"
        return None

    def _checked(self, raw: str) -> list[tuple[tuple[str, ...], bool, bool]]:
        """(form, protected, holds protected) of each form of a path, once for all its roles."""
        found = self._checks.get(raw)
        if found is None:
            resolved = self.path(raw)
            forms = (resolved.real,) if resolved.real == resolved.lexical else resolved
            trie, found = self._protected(), []
            for parts in forms:
                hit, holds_protected = trie.check(parts)
                found.append((parts, hit or is_env_file(parts), holds_protected))
            self._checks[raw] = found
        return found

    def in_sandbox(self, raw: str | None) -> bool:
        if raw is None or self.context.sandbox is None:
            return False
        root = self.root(self.context.sandbox)
        return self.path(raw).real[: len(root)] == root

    def git_internals(self, raw: str, role: str) -> str | None:
        """The git directory a sandbox write or delete lands in, else None.

        A repository's own files (config, hooks, alternates, commondir) decide what git runs and
        reads: writing them is not discharged by the sandbox. Recognised by shape, not only by
        the name ``.git`` (a bare repository, a worktree's admin folder): the shape is probed
        on disk by the injected ``context.git_dir_probe`` (``policy.paths.git_dir_of``), so
        the engine itself stays free of I/O."""
        if role not in _GIT_INTERNAL_ROLES:
            return None
        real = self.path(raw).real
        root = self.root(self.context.sandbox or "/")
        if ".git" in real[len(root) :]:
            return "/" + "/".join(real[: real.index(".git", len(root)) + 1])
        return self.context.git_dir_probe("/" + "/".join(real), "/" + "/".join(root))

    def root(self, folder: str) -> tuple[str, ...]:
        key = ("root", folder)
        root = self.memo.get(key)
        if root is None:
            ctx = self.context
            root = self.memo[key] = _real(ctx, absolute(folder, ctx.home, ctx.home))
        return root

    def gate(self, server: str) -> DomainSet | None:
        patterns = self.context.allowed_domains.get(server)
        if patterns is None:
            return None
        key = ("gate", server)
        gate = self.memo.get(key)
        if gate is None:
            gate = self.memo[key] = DomainSet(patterns)
        return gate

    def _protected(self) -> ProtectedPaths:
        trie = self.memo.get("protected")
        if trie is None:
            forms: list[tuple[str, ...]] = []
            for pattern in self.context.protected_patterns:
                parts = components(pattern)
                fixed = parts.index("*") if "*" in parts else len(parts)
                prefix = _real(self.context, "/" + "/".join(parts[:fixed]))
                forms += [parts, prefix + parts[fixed:]]
            trie = self.memo["protected"] = ProtectedPaths(tuple(forms))
        return trie


def _relative(path: str) -> bool:
    return not (path.startswith("/") or path == "~" or path.startswith("~/"))


def _real(context: EvalContext, full: str) -> tuple[str, ...]:
    return components(_resolve(context, full))


def _resolve(context: EvalContext, full: str) -> str:
    resolved = context.resolve_path(full)
    if not isinstance(resolved, str) or not resolved.startswith("/"):
        raise ValueError("the path resolver must return an absolute path")
    return resolved
