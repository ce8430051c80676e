"""From a call's arguments to (role, value) pairs, following the tool's annotation.

An annotation key is a top-level argument (``path``), or a path into nested arguments
(``files[].path``: every ``path`` of every object in the ``files`` array). A leaf that is an
array contributes each of its items (IronCurtain's ``paths: [read-path]``). Objects the
annotation describes may hold only the keys it describes, so nothing reaches a server that the
policy never saw. Values of any role but ``none`` must be non-empty strings without NUL bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from policy.models import ArgumentError, ConditionalRoles, ToolAnnotation, ToolCall, WhenClause
from policy.role_specs import BUILTIN_TABLE, EXTRACTORS, RoleTable

if TYPE_CHECKING:
    from policy.loader import Policy

__all__ = ["ArgumentPlan", "RoleValue", "extract_role_values", "extract_roles"]

_MISSING = object()


class RoleValue(NamedTuple):
    role: str
    value: str | None  # None: the argument was left out and its value is unknown
    where: str  # the argument path, for reasons: "files[1].path"


class _ArgSpec(NamedTuple):
    key: str
    steps: tuple[tuple[str, bool], ...]  # (name, is_array)
    roles: tuple[str, ...] | ConditionalRoles
    fixed: tuple[str, ...] | None  # the roles minus 'none' when not conditional
    plain: bool  # a top-level argument: no nesting to walk
    # A plain string leaf of fixed roles that are neither numbers nor extracting, worked out
    # once: None (take the general path), else whether a path role is among them.
    simple_path: bool | None = None


class ArgumentPlan:
    """One tool's annotation, compiled for fast extraction."""

    def __init__(self, annotation: ToolAnnotation, table: RoleTable = BUILTIN_TABLE) -> None:
        self.table = table
        self.tool = annotation.tool_name
        self.side_effects = annotation.side_effects
        self.specs: list[_ArgSpec] = []
        self.top_level: set[str] = set()
        # (prefix of steps) -> field names the annotation describes for objects found there
        self.described: dict[tuple[tuple[str, bool], ...], set[str]] = {}
        for key, roles in annotation.args.items():
            steps = tuple((part.removesuffix("[]"), part.endswith("[]")) for part in key.split("."))
            self.top_level.add(steps[0][0])
            for depth in range(1, len(steps)):
                self.described.setdefault(steps[:depth], set()).add(steps[depth][0])
            # 'none' leaves are walked only when nested, to check the objects around them
            if roles != ("none",) or len(steps) > 1:
                fixed = None
                if not isinstance(roles, ConditionalRoles):
                    fixed = tuple(role for role in roles if role != "none")
                simple = None
                if (
                    fixed
                    and table.number_roles.isdisjoint(fixed)
                    and table.extracting.keys().isdisjoint(fixed)
                ):
                    simple = not table.path_roles.isdisjoint(fixed)
                plain = len(steps) == 1
                self.specs.append(_ArgSpec(key, steps, roles, fixed, plain, simple))

    def extract(self, arguments: Mapping[str, Any]) -> list[RoleValue]:
        if not self.top_level.issuperset(arguments):
            unknown = next(key for key in arguments if key not in self.top_level)
            raise ArgumentError(f"{self.tool} has no argument {unknown!r}")
        found: list[RoleValue] = []
        for spec in self.specs:
            roles = spec.fixed
            value = arguments.get(spec.key)
            if spec.plain and (value is None or value == []) and spec.key in arguments:
                found.extend(_given_empty(spec, arguments))
                continue
            if roles is None:
                conditional: ConditionalRoles = spec.roles  # type: ignore[assignment]
                if value is None:
                    found.extend(RoleValue(r, None, spec.key) for r in conditional.when_absent)
                roles = tuple(r for r in _roles_for(conditional, arguments) if r != "none")
            if spec.plain and isinstance(value, str):  # the common case, without the walk
                if spec.simple_path is None:
                    _leaf(value, spec.key, roles, found, self.table)
                else:
                    _string_leaf(value, spec.key, roles, found, spec.simple_path)
                continue
            if roles or not spec.plain:
                self._walk(arguments, spec.steps, 0, roles, "", found)
        return found

    def _walk(
        self,
        obj: Mapping[str, Any],
        steps: tuple[tuple[str, bool], ...],
        depth: int,
        roles: tuple[str, ...],
        where: str,
        found: list[RoleValue],
    ) -> None:
        name, is_array = steps[depth]
        value = obj.get(name, _MISSING)
        if value is _MISSING and depth == 0:
            return  # a top-level argument left out: its whenAbsent roles (extract)
        where = f"{where}.{name}" if where else name
        if value is _MISSING or value is None or value == []:
            # Given null or [], or left out of an object the call does give (a recipient
            # {} in a list): no value to judge, and a server may read it as its default or as
            # "all". Each role the leaf has gets an unknown value, as at the top level.
            found.extend(RoleValue(role, None, where) for role in roles)
            return
        last = depth == len(steps) - 1
        items = value if (is_array or last) and isinstance(value, list) else None
        if is_array and items is None:
            raise ArgumentError(f"{where} must be an array")
        if last:
            if not roles:
                return
            for index, item in enumerate(items if items is not None else [value]):
                label = f"{where}[{index}]" if items is not None else where
                _leaf(item, label, roles, found, self.table)
            return
        described = self.described.get(steps[: depth + 1], set())
        for index, item in enumerate(items if items is not None else [value]):
            label = f"{where}[{index}]" if items is not None else where
            if not isinstance(item, dict):
                raise ArgumentError(f"{label} must be an object")
            extra = [k for k in item if k not in described]
            if extra:
                raise ArgumentError(f"{label} has no field {extra[0]!r}")
            self._walk(item, steps, depth + 1, roles, label, found)


_new_value = functools.partial(tuple.__new__, RoleValue)


def _string_leaf(
    item: str, where: str, roles: tuple[str, ...], found: list[RoleValue], path: bool
) -> None:
    """`_leaf` for a string whose roles were classified when the plan was made."""
    if "\x00" in item:
        raise ArgumentError(f"{where} contains a NUL byte")
    if path:
        if not item:
            raise ArgumentError(f"{where} is an empty path")
        if item.startswith("~") and item != "~" and not item.startswith("~/"):
            raise ArgumentError(f"{where}: '~user' paths are not accepted")
    for role in roles:
        found.append(_new_value((role, item, where)))


def _leaf(
    item: object, where: str, roles: tuple[str, ...], found: list[RoleValue], table: RoleTable
) -> None:
    if not roles:
        return
    if not table.number_roles.isdisjoint(roles) or not table.extracting.keys().isdisjoint(roles):
        _typed_leaf(item, where, roles, found, table)
        return
    if not isinstance(item, str):
        raise ArgumentError(f"{where} must be a string")
    if "\x00" in item:
        raise ArgumentError(f"{where} contains a NUL byte")
    if not table.path_roles.isdisjoint(roles):
        if not item:
            raise ArgumentError(f"{where} is an empty path")
        if item.startswith("~") and item != "~" and not item.startswith("~/"):
            # '~user' needs a user lookup; the servers refuse it, so the policy does too
            raise ArgumentError(f"{where}: '~user' paths are not accepted")
    if len(roles) == 1:
        found.append(RoleValue(roles[0], item, where))
    else:
        found.extend([RoleValue(role, item, where) for role in roles])


def _typed_leaf(
    item: object, where: str, roles: tuple[str, ...], found: list[RoleValue], table: RoleTable
) -> None:
    """A leaf some of whose roles are numbers or extract from text: each role its own values.

    A number role takes a JSON number (kept as its text, ``repr`` of a float) or a string, which
    the numeric conditions then try to read; ``true`` is not a number. A text role extracting
    URLs, e-mail addresses, phone numbers or IBANs contributes each one found (none found: nothing
    to judge)."""
    for role in roles:
        if role in table.number_roles:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise ArgumentError(f"{where} must be a number")
            found.append(RoleValue(role, item if isinstance(item, str) else repr(item), where))
            continue
        if not isinstance(item, str):
            raise ArgumentError(f"{where} must be a string")
        if "\x00" in item:
            raise ArgumentError(f"{where} contains a NUL byte")
        kind = table.extracting.get(role)
        if kind is None:
            _leaf(item, where, (role,), found, table)
            continue
        values = EXTRACTORS[kind](item)
        found.extend(RoleValue(role, value, where) for value in values)


def _roles_for(spec: ConditionalRoles, arguments: Mapping[str, Any]) -> tuple[str, ...]:
    for clause in spec.when:
        actual = arguments.get(clause.arg, _MISSING)
        if clause.is_ is not None:
            if _is(clause, actual):
                return clause.roles
            continue
        if actual is _MISSING:
            continue
        options = clause.in_ if clause.in_ is not None else (clause.equals,)
        if any(_same(actual, option) for option in options):
            return clause.roles
    return spec.default


def _given_empty(spec: _ArgSpec, arguments: Mapping[str, Any]) -> list[RoleValue]:
    """A top-level argument given as null or []: no value to judge, and a server may read it as
    its default or as "all" (every contact shared, every port opened). It is read as left out:
    its whenAbsent roles, else each of its roles with an unknown value, which no list holds,
    so the role's refusal or question decides. (An empty string is a value its roles judge, in
    no list; an object where a string belongs is refused as malformed.)"""
    if spec.fixed is not None:
        roles = spec.fixed
    else:
        conditional: ConditionalRoles = spec.roles  # type: ignore[assignment]
        if conditional.when_absent:
            return [RoleValue(r, None, spec.key) for r in conditional.when_absent]
        roles = tuple(r for r in _roles_for(conditional, arguments) if r != "none")
    return [RoleValue(r, None, spec.key) for r in roles]


def _is(clause: WhenClause, actual: object) -> bool:
    """IronCurtain's ``is`` tests; truthiness as JavaScript has it (``[]`` and ``{}`` are true)."""
    given = actual is not _MISSING and actual is not None
    if clause.is_ == "present":
        return given
    if clause.is_ == "absent":
        return not given
    truthy = given and actual is not False and actual != 0 and actual != ""
    if isinstance(actual, float) and actual != actual:  # NaN is falsy
        truthy = False
    return truthy if clause.is_ == "truthy" else not truthy


def _same(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1`` and ``1`` is not ``"1"``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def extract_role_values(call: ToolCall, policy: Policy) -> list[RoleValue]:
    """Every (role, value) of a call, in annotation order; raises ArgumentError if malformed."""
    plan = policy.plan_for(call.server, call.tool)
    if plan is None:
        raise ArgumentError(f"unknown tool {call.server}/{call.tool}")
    return plan.arguments.extract(call.arguments)


def extract_roles(call: ToolCall, policy: Policy) -> dict[str, tuple[str, ...]]:
    """role -> the values found for it (nested arguments included, unknown values as ``""``).

    Values are as the agent wrote them (not resolved). An unknown tool gives ``{}``; malformed
    arguments raise ``ArgumentError`` (the engine has denied such a call already).
    """
    if policy.plan_for(call.server, call.tool) is None:
        return {}
    roles: dict[str, list[str]] = {}
    for item in extract_role_values(call, policy):
        values = roles.setdefault(item.role, [])
        value = "" if item.value is None else item.value
        if value not in values:
            values.append(value)
    return {role: tuple(values) for role, values in roles.items()}
