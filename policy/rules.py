"""Compiled rules: the static part of matching done once at load, per tool and per role.

A rule *applies* to a call when its ``server``, ``tool`` and ``sideEffects`` conditions hold.
It may *cover* a role when every role-bearing condition it has (``roles``, ``paths``,
``domains``, ``lists``) names that role; a rule with none of them covers every role (and is the
only kind that can decide a call with no role values). What stays dynamic (is the path within,
does the host match) is checked by the engine against the call's resolved values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from policy.domains import DomainSet, IdentifierSet
from policy.models import NumberCondition, Rule, ToolAnnotation, arg_roles
from policy.role_specs import BUILTIN_TABLE, RoleTable
from policy.roles import ArgumentPlan, RoleValue
from policy.session_state import (
    RECORD_FIELDS,
    RECORD_SEPARATOR,
    copied_in,
    is_session_list,
    request_words,
    scoped_list,
    session_condition_holds,
    tainted_by,
    task_condition_holds,
    within_bounds,
    written_after,
)

__all__ = ["CompiledRule", "ToolPlan", "expand_lists"]

Matcher = DomainSet | IdentifierSet


def expand_lists(
    allowed: Iterable[str],
    lists: Mapping[str, tuple[str, ...]],
    missing: set[str],
    scope: tuple[str, ...] | None = None,
) -> list[str]:
    """``@name`` replaced by the list's effective values; a missing list adds nothing (a
    ``task:``/``session:`` list is empty until the session fills it: not reported missing).
    With a ``scope`` (the rule's ``task.asks``), a list of the request's values is read as the
    values of the instructions the rule accepts (``scoped_list``)."""
    patterns: list[str] = []
    for item in allowed:
        if item.startswith("@"):
            values = lists.get(scoped_name(item[1:], scope))
            if values is None:
                if not is_session_list(item[1:]):
                    missing.add(item[1:])
            else:
                patterns.extend(values)
        else:
            patterns.append(item)
    return patterns


def scoped_name(name: str, scope: tuple[str, ...] | None) -> str:
    """The list a rule with ``scope`` reads for ``@name``: scoped for the request's own lists."""
    from policy.task_grants import GRANT_LISTS

    return scoped_list(name, scope) if scope is not None and name in GRANT_LISTS else name


class CompiledRule:
    __slots__ = (
        "domain_roles",
        "domains",
        "effect",
        "list_conditions",
        "name",
        "number_conditions",
        "path_roles",
        "provenance",
        "reason",
        "role_bearing",
        "roles",
        "rule",
        "session_conditions",
        "task_condition",
        "within",
    )

    def __init__(
        self,
        rule: Rule,
        lists: Mapping[str, tuple[str, ...]],
        missing: set[str],
        table: RoleTable = BUILTIN_TABLE,
    ):
        cond = rule.when
        self.rule = rule
        self.name, self.effect, self.reason = rule.name, rule.then, rule.reason
        self.roles = frozenset(cond.roles) if cond.roles is not None else None
        self.path_roles = frozenset(cond.paths.roles) if cond.paths else None
        self.within = cond.paths.within if cond.paths else None
        self.domain_roles = frozenset(cond.domains.roles) if cond.domains else None
        scope = cond.task.scope if cond.task is not None else None
        self.domains = (
            DomainSet(expand_lists(cond.domains.allowed, lists, missing, scope))
            if cond.domains
            else None
        )
        self.list_conditions: tuple[tuple[frozenset[str], str, Matcher], ...] = tuple(
            (
                frozenset(lc.roles),
                lc.match_type,
                _linked(
                    _matcher(
                        lc.match_type,
                        lc.allowed,
                        lists,
                        missing,
                        exact=_exact(lc, table),
                        scope=scope,
                    ),
                    lc.of_record,
                    lists,
                ),
            )
            for lc in cond.lists or ()
        )
        self.number_conditions: tuple[tuple[frozenset[str], NumberCondition], ...] = tuple(
            (frozenset(nc.roles), nc) for nc in cond.numbers or ()
        )
        self.session_conditions = cond.session or ()
        self.provenance = cond.provenance
        self.task_condition = cond.task
        self.role_bearing = (
            any(x is not None for x in (self.roles, self.path_roles, self.domain_roles))
            or bool(self.list_conditions)
            or bool(self.number_conditions)
            or self.provenance is not None
        )

    def applies(self, server: str, tool: str, side_effects: bool) -> bool:
        cond = self.rule.when
        return (
            (cond.server is None or server in cond.server)
            and (cond.tool is None or tool in cond.tool)
            and (cond.side_effects is None or cond.side_effects == side_effects)
        )

    def may_cover(self, role: str) -> bool:
        groups = [self.roles, self.path_roles, self.domain_roles]
        if self.list_conditions and not any(role in roles for roles, _, _ in self.list_conditions):
            return False  # list entries on other roles (owner AND repo) are checked on the call
        groups.extend(roles for roles, _ in self.number_conditions)
        if self.provenance is not None:
            groups.append(frozenset(self.provenance.roles))
        return all(group is None or role in group for group in groups)

    def session_holds(self, item: RoleValue | None, values: list[RoleValue], state) -> bool:
        """The rule's session conditions (``policy.session_state``) for one judged value, or for
        the call as a whole (``item`` None: a provenance condition then needs every value of
        its roles to be tainted, and at least one; one on copied text, one value that copies)."""
        if self.provenance is not None:
            roles = self.provenance.roles
            holds = _provenance_test(self.provenance, state)
            if item is not None:
                if item.role not in roles or not holds(item.value):
                    return False
            else:
                found = [v for v in values if v.role in roles]
                # copied text: one text that copies is enough (a subject beside the body
                # must not excuse it); a value's origin: every value must carry it
                every = any if self.provenance.on_text else all
                if not found or not every(holds(v.value) for v in found):
                    return False
        if self.task_condition is not None and not task_condition_holds(self.task_condition, state):
            return False
        pairs = [(v.role, v.value) for v in values] if self.session_conditions else []
        scope = self.task_condition.scope if self.task_condition is not None else None
        return all(session_condition_holds(c, state, pairs, scope) for c in self.session_conditions)


def _provenance_test(condition, state):
    """The test a provenance condition puts to one value: it contains a remembered piece, or
    (``words``) it repeats a run of that many words a result wrote that the user did not."""
    label, words = condition.from_, condition.words
    if condition.after_text is not None:
        after = condition.after_text
        return lambda value: written_after(value, label, state, after)
    if words is None:
        return lambda value: tainted_by(value, label, state)
    typed = request_words(state)
    return lambda value: copied_in(value, label, state, words, typed)


def _exact(condition, table: RoleTable) -> bool:
    """A list condition compares exactly when it says so; when it does not, as its roles are
    declared (``"match": "exact"`` or ``"case-insensitive"``), else IronCurtain's choice
    (identifiers exactly, e-mail addresses case-insensitively: ``ListCondition.exact``)."""
    if condition.match is not None:
        return condition.match == "exact"
    matches = {table.specs[role].match for role in condition.roles if role in table}
    if matches == {"exact"}:
        return True
    if matches == {"case-insensitive"}:
        return False
    return condition.exact


def number_in_range(value: str | None, condition: NumberCondition) -> bool:
    """Whether ``value`` reads as a finite number within every bound of ``condition``."""
    if value is None:
        return False
    try:
        number = float(value.strip())
    except ValueError:
        return False
    if not math.isfinite(number):
        return False
    return within_bounds(number, condition)


class RecordLinked:
    """A list condition's matcher with ``ofRecord``: a value it matches counts only with the
    record that granted it (``task:record-fields``), named by the call in ``role``."""

    __slots__ = ("inner", "pairs", "role")

    def __init__(self, inner, role: str, pairs: frozenset[tuple[str, str]]) -> None:
        self.inner, self.role, self.pairs = inner, role, pairs

    def matches(self, value: str | None) -> bool:
        return self.inner.matches(value)

    def linked(self, value: str | None, records: list[str]) -> bool:
        """Every record the call names granted ``value`` (a call naming none: no record did)."""
        return bool(records) and all((r, value) in self.pairs for r in records)


def _linked(matcher, role: str | None, lists: Mapping[str, tuple[str, ...]]):
    if role is None:
        return matcher
    entries = (v.partition(RECORD_SEPARATOR) for v in lists.get(RECORD_FIELDS, ()))
    return RecordLinked(matcher, role, frozenset((r, v) for r, _, v in entries))


def _matcher(
    match_type: str,
    allowed: Iterable[str],
    lists: Mapping[str, tuple[str, ...]],
    missing: set,
    exact: bool = False,
    scope: tuple[str, ...] | None = None,
) -> Matcher:
    patterns = expand_lists(allowed, lists, missing, scope)
    if match_type == "domains":
        return DomainSet(patterns)
    return IdentifierSet(patterns, emails=match_type == "emails", exact=exact)


class ToolPlan:
    """Everything the engine needs about one tool, precomputed."""

    def __init__(
        self,
        annotation: ToolAnnotation,
        server: str,
        rules: list[CompiledRule],
        table: RoleTable = BUILTIN_TABLE,
    ):
        self.arguments = ArgumentPlan(annotation, table)
        self.side_effects = annotation.side_effects
        applicable = [
            r for r in rules if r.applies(server, annotation.tool_name, self.side_effects)
        ]
        self.call_rules = tuple(r for r in applicable if not r.role_bearing)
        # A call with no judged value (only opaque ones, or none) meets every applicable rule in
        # order, as IronCurtain's unscoped scan does; its role conditions read the annotation.
        self.unscoped = tuple(applicable)
        # the roles the annotation gives whatever the call (a when clause's are the call's)
        self.annotated_roles = frozenset(
            role for spec in annotation.args.values() for role in arg_roles(spec, clauses=False)
        )
        # and every role a call can carry (what the lint reads)
        self.possible_roles = frozenset(
            role for spec in annotation.args.values() for role in arg_roles(spec)
        )
        # Per role, the rules that may cover it, worked out the first time a call brings that
        # role: a policy loads in every process that starts (exec, each server's judge), and
        # filling this for every role of the table and every tool cost ~25 ms of a 300 ms start.
        self._by_role: dict[str, tuple[CompiledRule, ...]] = {}

    def rules_for(self, role: str) -> tuple[CompiledRule, ...]:
        """The applicable rules, in order, that may cover a value of ``role``."""
        found = self._by_role.get(role)
        if found is None:
            found = tuple(r for r in self.unscoped if r.may_cover(role))
            self._by_role[role] = found
        return found
