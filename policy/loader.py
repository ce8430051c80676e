"""Reading a policy directory: ``compiled-policy.json``, ``tool-annotations.json`` and the
optional ``dynamic-lists.json``, validated into one frozen ``Policy``.

A malformed file raises ``PolicyLoadError`` naming the file, the JSON path of the field, the bad
value and what was expected. ``Policy.digest`` is a sha256 over the canonical semantic contents
(metadata such as ``generatedAt`` left out), so approvals bound to it die with any rule change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from policy.ironcurtain_formats import normalise_annotations
from policy.models import (
    CompiledPolicyFile,
    ConditionalRoles,
    DynamicListsFile,
    PolicyLoadError,
    Rule,
    ToolAnnotation,
    ToolAnnotationsFile,
)
from policy.role_specs import ROLE_NAME, RoleSpec, RoleTable
from policy.rules import CompiledRule, ToolPlan

__all__ = ["POLICY_FILES", "Policy", "default_policy_dir", "load_policy"]

POLICY_FILES = ("compiled-policy.json", "tool-annotations.json", "dynamic-lists.json")
STRUCTURAL_RULES = frozenset(
    {
        "structural-protected-path",
        "structural-sandbox-allow",
        "structural-domain-escalate",
        "structural-git-internals-escalate",
        "structural-sandbox-history-escalate",
        "structural-introspection-allow",
        "structural-unknown-tool",
        "invalid-arguments",
        "default-deny",
        "engine-error",
    }
)


_ROLE_EXPECTED = 'a built-in role or one declared in tool-annotations.json\'s "roles"'


def default_policy_dir() -> Path:
    """The policy shipped with the appliance."""
    return Path(__file__).resolve().parent / "generated"


class Policy(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    rules: tuple[Rule, ...]
    annotations: dict[str, dict[str, ToolAnnotation]]  # server -> tool -> annotation
    lists: dict[str, tuple[str, ...]]  # list name -> effective values
    digest: str
    source: str | None = None
    declared_roles: dict[str, RoleSpec] = {}  # the annotations file's "roles"
    _plans: dict[tuple[str, str], ToolPlan] = PrivateAttr(default_factory=dict)
    _missing: tuple[str, ...] = PrivateAttr(default=())
    _table: RoleTable = PrivateAttr(default_factory=RoleTable)

    def model_post_init(self, context: Any, /) -> None:
        table = self._table = RoleTable(self.declared_roles)
        unknown = _unknown_role(self.rules, self.annotations, table)
        if unknown is not None:
            file, where, role = unknown
            source = f"{self.source}/{file}" if self.source else file
            known = ", ".join(repr(name) for name in table.names())
            raise PolicyLoadError(source, where, role, f"{_ROLE_EXPECTED}: {known}")
        missing: set[str] = set()
        compiled = [CompiledRule(rule, self.lists, missing, table) for rule in self.rules]
        for server, tools in self.annotations.items():
            for name, annotation in tools.items():
                self._plans[(server, name)] = ToolPlan(annotation, server, compiled, table)
        self._missing = tuple(sorted(missing))

    @property
    def roles(self) -> RoleTable:
        """Built-in and declared roles: what each is, and the sets the engine asks about."""
        return self.__pydantic_private__["_table"]

    @property
    def missing_lists(self) -> tuple[str, ...]:
        """Lists referenced as ``@name`` but not defined: they match nothing."""
        return self._missing

    def plan_for(self, server: str, tool: str) -> ToolPlan | None:
        # pydantic's private-attribute hook costs more than the lookup itself: go straight there
        return self.__pydantic_private__["_plans"].get((server, tool))

    @classmethod
    def build(
        cls,
        rules: tuple[Rule, ...] | list[Rule],
        annotations: ToolAnnotationsFile,
        lists: DynamicListsFile | None = None,
        source: str | None = None,
    ) -> Policy:
        by_server = {
            server: {tool.tool_name: tool for tool in entry.tools}
            for server, entry in annotations.servers.items()
        }
        effective = {
            name: item.effective() for name, item in (lists or DynamicListsFile()).lists.items()
        }
        canonical = {
            "rules": [r.model_dump(mode="json", by_alias=True) for r in rules],
            "annotations": {
                s: {t: a.model_dump(mode="json", by_alias=True) for t, a in tools.items()}
                for s, tools in by_server.items()
            },
            "lists": effective,
            "roles": {
                name: spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                for name, spec in annotations.roles.items()
            },
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls(
            rules=tuple(rules),
            annotations=by_server,
            lists=effective,
            digest=digest,
            source=source,
            declared_roles=dict(annotations.roles),
        )


def load_policy(directory: str | Path) -> Policy:
    folder = Path(directory)
    compiled = _read(folder / POLICY_FILES[0], CompiledPolicyFile)
    annotations = _read(folder / POLICY_FILES[1], ToolAnnotationsFile, normalise_annotations)
    lists_file = folder / POLICY_FILES[2]
    lists = _read(lists_file, DynamicListsFile) if lists_file.exists() else DynamicListsFile()
    _check_rules(folder / POLICY_FILES[0], compiled)
    _check_annotations(folder / POLICY_FILES[1], annotations)
    return Policy.build(compiled.rules, annotations, lists, source=str(folder))


def _read[M: BaseModel](
    path: Path, model: type[M], normalise: Callable[[Any], Any] | None = None
) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyLoadError(str(path), "$", None, "the file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(str(path), "$", None, f"the file cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PolicyLoadError(
            str(path), where, text[exc.pos : exc.pos + 20], "valid JSON"
        ) from None
    if normalise is not None:
        data = normalise(data)  # IronCurtain's shapes (policy.ironcurtain_formats)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        extra = _unknown_roles_in(data) if model is ToolAnnotationsFile else []
        raise load_error(str(path), exc, extra) from None


def _unknown_roles_in(data: Any) -> list[tuple[str, object, str]]:
    """Role names in a raw annotations file that are neither built in nor declared: reported
    with the file's other problems (a valid file has them reported by the role table)."""
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        return []
    declared = data.get("roles") if isinstance(data.get("roles"), dict) else {}
    known = set(RoleTable().specs) | set(declared)
    found: list[tuple[str, object, str]] = []
    for server, entry in data["servers"].items():
        tools = entry.get("tools") if isinstance(entry, dict) else None
        for index, tool in enumerate(tools if isinstance(tools, list) else []):
            args = tool.get("args") if isinstance(tool, dict) else None
            for key, spec in (args or {}).items() if isinstance(args, dict) else ():
                base = f"$.servers.{server}.tools[{index}].args.{key}"
                named = (
                    [(f"{base}[{i}]", n) for i, n in enumerate(spec)]
                    if isinstance(spec, list)
                    else []
                )
                if isinstance(spec, dict):
                    for part in ("default", "whenAbsent"):
                        values = spec.get(part) if isinstance(spec.get(part), list) else []
                        named += [(f"{base}.{part}[{i}]", n) for i, n in enumerate(values)]
                for where, name in named:
                    if isinstance(name, str) and name not in known:
                        found.append((where, name, "a built-in or declared role"))
    return found


def load_error(
    file: str, exc: ValidationError, extra: list[tuple[str, object, str]] | None = None
) -> PolicyLoadError:
    """One error for the whole file, listing every problem in it (the first one also in the
    error's fields). With a union (roles as a list or as a conditional object) pydantic reports
    each alternative; only the deepest report under a path is kept, the likeliest intent."""
    errors = exc.errors(include_url=False)
    found = [(_json_path(e["loc"]), e.get("input"), e["msg"]) for e in errors]
    found = sorted([*found, *(extra or [])], key=lambda problem: problem[0])
    problems: dict[str, tuple[object, str]] = {}
    for where, value, message in sorted(found, key=lambda p: -len(p[0])):
        deeper = any(other.startswith((where + ".", where + "[")) for other in problems)
        if not deeper and where not in problems:
            problems[where] = (value, message)
    ordered = [(where, *problems[where]) for where, _, _ in found if where in problems]
    ordered = _unique(ordered)
    where, value, message = ordered[0]
    error = PolicyLoadError(file, where, value, message)
    if len(ordered) > 1:
        lines = [str(error)] + [str(PolicyLoadError(file, w, v, m)) for w, v, m in ordered[1:]]
        error.args = (f"{len(ordered)} problems:\n" + "\n".join(lines),)
    error.problems = tuple(where for where, _, _ in ordered)
    return error


def _unique(items: list[tuple[str, object, str]]) -> list[tuple[str, object, str]]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item[0] not in seen:
            seen.add(item[0])
            kept.append(item)
    return kept


def _json_path(loc: tuple[Any, ...]) -> str:
    text = "$"
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "[" in part or part[:1].isupper():
            continue  # pydantic's name for a union member, not a key in the file
        else:
            text += f".{part}"
    return text


def _check_rules(path: Path, compiled: CompiledPolicyFile) -> None:
    problems: list[PolicyLoadError] = []
    seen: set[str] = set()
    for index, rule in enumerate(compiled.rules):
        where = f"$.rules[{index}].name"
        if rule.name in STRUCTURAL_RULES:
            problems.append(
                PolicyLoadError(str(path), where, rule.name, "a name no structural check uses")
            )
        elif rule.name in seen:
            problems.append(PolicyLoadError(str(path), where, rule.name, "a unique name"))
        seen.add(rule.name)
    _raise_all(problems)


def _update_roles(rule: Rule) -> list[tuple[str, tuple[str, ...]]]:
    """A rule's ``session`` update names roles too (checked as if under ``if``, with a path
    that says where: ``$.rules[N].session.extend[0].roles``)."""
    if rule.session is None:
        return []
    found = [(f"../session.extend[{i}].roles", e.roles) for i, e in enumerate(rule.session.extend)]
    found += [(f"../session.add[{i}].roles", a.roles) for i, a in enumerate(rule.session.add)]
    return found


def _unknown_role(
    rules: tuple[Rule, ...],
    annotations: dict[str, dict[str, ToolAnnotation]],
    table: RoleTable,
) -> tuple[str, str, str] | None:
    """(file, where, role) of the first role name that is neither built in nor declared."""
    for index, rule in enumerate(rules):
        cond = rule.when
        groups = [("roles", cond.roles or ())]
        groups += [("paths.roles", cond.paths.roles)] if cond.paths else []
        groups += [("domains.roles", cond.domains.roles)] if cond.domains else []
        groups += [(f"lists[{i}].roles", lc.roles) for i, lc in enumerate(cond.lists or ())]
        groups += [(f"numbers[{i}].roles", nc.roles) for i, nc in enumerate(cond.numbers or ())]
        groups += [(f"session[{i}].roles", sc.roles) for i, sc in enumerate(cond.session or ())]
        groups += [("provenance.roles", cond.provenance.roles)] if cond.provenance else []
        groups += _update_roles(rule)
        for field, roles in groups:
            for at, role in enumerate(roles):
                if role not in table:
                    place = field[3:] if field.startswith("../") else f"if.{field}"
                    return f"{POLICY_FILES[0]}", f"$.rules[{index}].{place}[{at}]", role
    for server, tools in annotations.items():
        for index, annotation in enumerate(tools.values()):
            for key, roles in annotation.args.items():
                where = f"$.servers.{server}.tools[{index}].args.{key}"
                named: list[tuple[str, str]] = []
                if isinstance(roles, ConditionalRoles):
                    named += [(f".default[{i}]", r) for i, r in enumerate(roles.default)]
                    named += [(f".whenAbsent[{i}]", r) for i, r in enumerate(roles.when_absent)]
                    for c, clause in enumerate(roles.when):
                        named += [(f".when[{c}].roles[{i}]", r) for i, r in enumerate(clause.roles)]
                else:
                    named += [(f"[{i}]", r) for i, r in enumerate(roles)]
                for suffix, role in named:
                    if role not in table:
                        return POLICY_FILES[1], where + suffix, role
    return None


def _check_annotations(path: Path, annotations: ToolAnnotationsFile) -> None:
    problems: list[PolicyLoadError] = []
    for name in annotations.roles:
        if not ROLE_NAME.fullmatch(name):
            problems.append(
                PolicyLoadError(
                    str(path), f"$.roles.{name}", name, "a lower-case role name like 'recipient'"
                )
            )
    try:
        RoleTable(annotations.roles)
    except ValueError as exc:
        problems.append(PolicyLoadError(str(path), "$.roles", list(annotations.roles), str(exc)))
    for server, entry in annotations.servers.items():
        seen: set[str] = set()
        for index, tool in enumerate(entry.tools):
            where = f"$.servers.{server}.tools[{index}]"
            if tool.server_name != server:
                field, expected = f"{where}.serverName", repr(server)
                problems.append(PolicyLoadError(str(path), field, tool.server_name, expected))
            if tool.tool_name in seen:
                problems.append(
                    PolicyLoadError(
                        str(path), f"{where}.toolName", tool.tool_name, "a unique tool name"
                    )
                )
            seen.add(tool.tool_name)
    _raise_all(problems)


def _raise_all(problems: list[PolicyLoadError]) -> None:
    """The first problem, carrying every problem of the file in its message and ``problems``."""
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        lines = "\n".join(str(problem) for problem in problems)
        first.args = (f"{len(problems)} problems:\n{lines}",)
        first.problems = tuple(problem.where for problem in problems)
    raise first
