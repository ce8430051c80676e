"""Frozen models for the policy files, the call, the context and the decision.

The JSON files keep IronCurtain's camelCase names (``matchType``, ``toolName``, ``if``/``then``)
through aliases, so a user can bring an IronCurtain ``compiled-policy.json`` unchanged. Every
model refuses unknown keys except the three file roots, which may carry harmless metadata.

Errors (one tree, all ``PolicyError``)::

    PolicyError
    ├── PolicyLoadError   a policy file is missing or malformed (for the operator: file, field)
    └── ArgumentError     a call's arguments do not fit the tool's annotation (the agent's error)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    field_validator,
    model_validator,
)

from policy.facts import CallFacts
from policy.paths import git_dir_of, resolve_on_disk
from policy.role_specs import BUILTIN_TABLE, RoleSpec
from policy.session_state import (
    AskEntry,
    Bound,
    ProvenanceCondition,
    SessionCondition,
    SessionState,
    SessionUpdate,
    TaskCondition,
)
from policy.task_binding import RecordsSpec

__all__ = [
    "OPAQUE_ROLES",
    "PATH_ROLES",
    "ROLE_NAMES",
    "SANDBOX_ROLES",
    "URL_ROLES",
    "ArgumentError",
    "CompiledPolicyFile",
    "ConditionalRoles",
    "Decision",
    "DomainCondition",
    "DynamicList",
    "DynamicListsFile",
    "EvalContext",
    "ListCondition",
    "NumberCondition",
    "PathCondition",
    "PolicyError",
    "PolicyLoadError",
    "Role",
    "Rule",
    "RuleCondition",
    "ServerAnnotations",
    "ToolAnnotation",
    "ToolAnnotationsFile",
    "ToolCall",
    "WhenClause",
]

# A role name: built in (policy.role_specs.BUILTIN_ROLES), a shipped declared default
# (policy/declared_roles.json: IronCurtain's extra roles) or declared in the annotations file's
# "roles"; the loader refuses a name that is none of these.
Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
ROLE_NAMES = BUILTIN_TABLE.names()
# Roles whose values nothing judges (IronCurtain: not resource identifiers), by default; a
# policy's own table (Policy.roles.opaque_roles) adds its declared opaque roles.
OPAQUE_ROLES = BUILTIN_TABLE.opaque_roles
Effect = Literal["allow", "deny", "escalate"]
# Values of these roles are filesystem paths: resolved, checked against protected paths.
PATH_ROLES = frozenset(
    {"read-path", "write-path", "delete-path", "write-history", "delete-history"}
)
# Only these are discharged by sandbox containment; history rewriting still meets the rules.
SANDBOX_ROLES = frozenset({"read-path", "write-path", "delete-path"})
URL_ROLES = frozenset({"fetch-url", "git-remote-url"})
_ARG_KEY = re.compile(r"[A-Za-z_][\w-]*(\[\])?(\.[A-Za-z_][\w-]*(\[\])?)*")


class PolicyError(Exception):
    """Base of every error this package raises."""


class PolicyLoadError(PolicyError):
    """A policy file is unreadable or does not fit its format."""

    def __init__(self, file: str, where: str, value: object, expected: str) -> None:
        self.file, self.where, self.value, self.expected = file, where, value, expected
        self.problems: tuple[str, ...] = (where,)  # every problem's JSON path, when several
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{file}: {where}: {expected} (got {shown})")


class ArgumentError(PolicyError):
    """A call's arguments do not fit the tool's annotation."""


class _Frozen(BaseModel):
    model_config = ConfigDict(
        defer_build=True, frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True
    )


# --- the call, the context, the decision -------------------------------------------------


class ToolCall(_Frozen):
    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Decision(NamedTuple):
    """What the engine decided. A named tuple, not a model: one is built for every call (the
    engine's hottest allocation), its parts already checked where they were made; immutable."""

    decision: Effect
    rule: str
    reason: str
    escalated_roles: tuple[str, ...] = ()
    # For the audit only, never shown to the agent: what failed inside the engine.
    error: str | None = None
    # What the engine established on the way (role values, resolved paths, hosts), so no later
    # stage resolves or parses again; None when it decided before reading the arguments.
    facts: CallFacts | None = None


class EvalContext(_Frozen):
    """What the engine knows besides the policy. ``resolve_path`` is its only I/O."""

    model_config = ConfigDict(
        defer_build=True, frozen=True, extra="forbid", arbitrary_types_allowed=True
    )

    sandbox: str | None = None
    protected_patterns: tuple[str, ...] = ()
    allowed_domains: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    # server -> the folder its relative paths start from (git: its working directory); None:
    # unknown, so relative paths are refused. A server not listed: the sandbox, else home.
    path_bases: Mapping[str, str | None] = Field(default_factory=dict)
    resolve_path: Callable[[str], str] = resolve_on_disk
    # (resolved path, sandbox root) -> the git-dir-shaped folder holding the path, or None.
    git_dir_probe: Callable[[str, str], str | None] = git_dir_of
    home: str
    # History roles inside the sandbox: "additive" (the default) discharges write-history
    # (commit, branch, tag, merge: nothing is lost) and leaves delete-history (reset, forced
    # checkout, branch delete: work is discarded) to the rules, a human when none covers it;
    # "allow" discharges both, as IronCurtain does; "escalate" discharges neither.
    sandbox_history: Literal["additive", "escalate", "allow"] = "additive"
    # The session's state for this call (policy.session_state): task and session lists are
    # folded into the policy's lists by policy.session_policy; counters, sums and provenance
    # hits are read by the conditions. None: a call judged on its own.
    session: SessionState | None = None
    # Rule roots, the sandbox and protected patterns, resolved once per context (never per call).
    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("home", "sandbox")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must be an absolute path, got {value!r}")
        return value

    @field_validator("path_bases")
    @classmethod
    def _absolute_bases(cls, value: Mapping[str, str | None]) -> Mapping[str, str | None]:
        for server, base in value.items():
            if base is not None and not base.startswith("/"):
                raise ValueError(f"path base of {server!r} must be absolute, got {base!r}")
        return value

    @field_validator("protected_patterns")
    @classmethod
    def _absolute_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.startswith("/"):
                raise ValueError(f"protected pattern must be absolute, got {pattern!r}")
        return value


# --- compiled-policy.json -----------------------------------------------------------------


class PathCondition(_Frozen):
    roles: tuple[Role, ...] = Field(min_length=1)
    within: str

    @field_validator("within")
    @classmethod
    def _rooted(cls, value: str) -> str:
        if not (value.startswith("/") or value == "~" or value.startswith("~/")):
            raise ValueError("must be an absolute path or start with '~/'")
        if "\x00" in value:
            raise ValueError("must not contain a NUL byte")
        return value


class DomainCondition(_Frozen):
    roles: tuple[Role, ...] = Field(min_length=1)
    allowed: tuple[str, ...]


class ListCondition(_Frozen):
    roles: tuple[Role, ...] = Field(min_length=1)
    allowed: tuple[str, ...]
    match_type: Literal["domains", "emails", "identifiers"] = Field(alias="matchType")
    # identifiers/emails: "folded" trims and case-folds both sides, so a deny list is not dodged
    # by case (GitHub names are case-insensitive); "exact" compares the strings as they are.
    # Unset: IronCurtain's choice, exact for identifiers and folded for e-mails. Domains are
    # always compared as hosts (lower case).
    match: Literal["folded", "exact"] | None = None
    # Session-aware only: the values count only with the record the call names in this role
    # that granted them (``alsoGrants``): the hotel's amount for the hotel, not for the charger
    # also bound by "reimburse both: the hotel and the charger".
    of_record: Role | None = Field(
        default=None, alias="ofRecord", exclude_if=lambda value: value is None
    )

    @property
    def exact(self) -> bool:
        """IronCurtain's comparison unless the rule says otherwise: identifiers exactly as
        written, e-mail addresses case-insensitively."""
        if self.match is None:
            return self.match_type == "identifiers"
        return self.match == "exact"


class NumberCondition(_Frozen):
    """Every value of these roles is a number within all the bounds given; a value that is not
    a number never matches (so an ``allow`` below a threshold cannot be met by ``"1e9 EUR"``)."""

    roles: tuple[Role, ...] = Field(min_length=1)
    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> NumberCondition:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("a numbers condition needs at least one of gt, gte, lt, lte")
        return self


class RuleCondition(_Frozen):
    roles: tuple[Role, ...] | None = None
    server: tuple[str, ...] | None = None
    tool: tuple[str, ...] | None = None
    paths: PathCondition | None = None
    domains: DomainCondition | None = None
    lists: tuple[ListCondition, ...] | None = None
    numbers: tuple[NumberCondition, ...] | None = None
    side_effects: bool | None = Field(default=None, alias="sideEffects")
    # Session-aware conditions (policy.session_state); left out of the digest when unset, so
    # a policy without them keeps the digest its approvals are bound to.
    session: tuple[SessionCondition, ...] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    provenance: ProvenanceCondition | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    task: TaskCondition | None = Field(default=None, exclude_if=lambda value: value is None)


class Rule(_Frozen):
    name: str = Field(min_length=1)
    description: str = ""
    principle: str = ""
    when: RuleCondition = Field(alias="if")
    then: Effect
    reason: str = Field(min_length=1)
    # What the session records when a call this rule applies to is allowed or approved.
    session: SessionUpdate | None = Field(default=None, exclude_if=lambda value: value is None)


class CompiledPolicyFile(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", validate_by_alias=True)

    generated_at: str | None = Field(default=None, alias="generatedAt")
    constitution_hash: str | None = Field(default=None, alias="constitutionHash")
    input_hash: str | None = Field(default=None, alias="inputHash")
    rules: tuple[Rule, ...]


# --- tool-annotations.json ----------------------------------------------------------------


class WhenClause(_Frozen):
    """Roles that replace the default when another top-level argument has a given value.

    ``is`` (IronCurtain's operator): ``present``/``absent`` (given and not null, or not),
    ``truthy``/``falsy`` (JavaScript truthiness, as IronCurtain evaluates it)."""

    arg: str
    equals: JsonValue = None
    in_: tuple[JsonValue, ...] | None = Field(default=None, alias="in")
    is_: Literal["present", "absent", "truthy", "falsy"] | None = Field(default=None, alias="is")
    roles: tuple[Role, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_test(self) -> WhenClause:
        given = ("equals" in self.model_fields_set, self.in_ is not None, self.is_ is not None)
        if sum(given) != 1:
            raise ValueError("a when clause needs exactly one of 'equals', 'in' or 'is'")
        return self


class ConditionalRoles(_Frozen):
    default: tuple[Role, ...] = Field(min_length=1)
    when: tuple[WhenClause, ...] = ()
    # Roles for an argument the call leaves out (git's remote or repo path): the value is then
    # unknown, which no path, domain or list condition covers.
    when_absent: tuple[Role, ...] = Field(default=(), alias="whenAbsent")


ArgRoles = Annotated[tuple[Role, ...], Field(min_length=1)] | ConditionalRoles


def arg_roles(value: ArgRoles, *, clauses: bool = True) -> set[str]:
    """The roles an argument can carry: fixed ones, or a conditional's default and
    ``whenAbsent`` roles and (``clauses``) every ``when`` clause's."""
    if not isinstance(value, ConditionalRoles):
        return set(value)
    roles = set(value.default) | set(value.when_absent)
    if clauses:
        for clause in value.when:
            roles.update(clause.roles)
    return roles


class ToolAnnotation(_Frozen):
    tool_name: str = Field(alias="toolName")
    server_name: str = Field(alias="serverName")
    comment: str = ""
    side_effects: bool = Field(default=True, alias="sideEffects")
    args: dict[str, ArgRoles] = Field(default_factory=dict)
    # The tool's input schema when it was annotated (IronCurtain >= 0.9 stores it per tool): a
    # live tool whose schema differs is refused until annotated again (the chokepoint checks).
    input_schema: dict[str, JsonValue] | None = Field(default=None, alias="inputSchema")
    # The label of the tool's results (provenance): "trusted" results are not remembered;
    # unset means "untrusted" (a result is the agent's world's text until declared otherwise).
    result: Literal["trusted", "untrusted", "secret"] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    # A listing tool's record shape: the records its results list that the user's request
    # describes are bound to the task (``policy.task_binding``).
    records: RecordsSpec | None = Field(default=None, exclude_if=lambda value: value is None)
    # The instructions that ask for this tool (``"askedBy": ["approv*", "ok"]``, each entry as
    # in a task condition's ``asks``): a call is refused when the request holds none, and the
    # request's values and bound records it may use are those of those instructions only
    # (``policy.session_policy``).
    asked_by: tuple[AskEntry, ...] | None = Field(
        default=None, alias="askedBy", min_length=1, exclude_if=lambda value: value is None
    )
    # What a call the request did not ask for gets: refused (the default), or put to the human
    # with how the request was read ("escalate": a phrasing the askedBy words did not foresee
    # is a question, not a dead end; an injected call is one too).
    when_not_asked: Literal["deny", "escalate"] = Field(
        default="deny", alias="whenNotAsked", exclude_if=lambda value: value == "deny"
    )

    @model_validator(mode="after")
    def _not_asked_needs_asked_by(self) -> ToolAnnotation:
        if self.when_not_asked != "deny" and self.asked_by is None:
            raise ValueError("whenNotAsked applies to a tool with askedBy")
        return self

    @field_validator("args")
    @classmethod
    def _arg_keys(cls, value: dict[str, ArgRoles]) -> dict[str, ArgRoles]:
        for key, roles in value.items():
            if not _ARG_KEY.fullmatch(key):
                raise ValueError(
                    f"argument key {key!r} is not a name or a path like 'files[].path'"
                )
            nested = "." in key or "[" in key
            if nested and isinstance(roles, ConditionalRoles) and roles.when_absent:
                raise ValueError(f"{key!r}: whenAbsent applies only to top-level arguments")
        top_level = {key.split(".")[0].removesuffix("[]") for key in value}
        for key, roles in value.items():
            for clause in roles.when if isinstance(roles, ConditionalRoles) else ():
                if clause.arg not in top_level:
                    raise ValueError(f"{key!r}: when.arg {clause.arg!r} is not an argument here")
        return value


class ServerAnnotations(_Frozen):
    input_hash: str | None = Field(default=None, alias="inputHash")
    tools: tuple[ToolAnnotation, ...]


class ToolAnnotationsFile(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", validate_by_alias=True)

    generated_at: str | None = Field(default=None, alias="generatedAt")
    # Declared roles (beside the built-in ones): name -> what its values are.
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    servers: dict[str, ServerAnnotations]


# --- dynamic-lists.json -------------------------------------------------------------------


class DynamicList(_Frozen):
    values: tuple[str, ...] = ()
    manual_additions: tuple[str, ...] = Field(default=(), alias="manualAdditions")
    manual_removals: tuple[str, ...] = Field(default=(), alias="manualRemovals")
    type: Literal["domains", "emails", "identifiers"] | None = None
    resolved_at: str | None = Field(default=None, alias="resolvedAt")
    input_hash: str | None = Field(default=None, alias="inputHash")

    def effective(self) -> tuple[str, ...]:
        """values ∪ manual additions − manual removals, in first-seen order."""
        removed = set(self.manual_removals)
        seen: dict[str, None] = {}
        for value in (*self.values, *self.manual_additions):
            if value not in removed:
                seen.setdefault(value, None)
        return tuple(seen)


class DynamicListsFile(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", validate_by_alias=True)

    generated_at: str | None = Field(default=None, alias="generatedAt")
    lists: dict[str, DynamicList] = Field(default_factory=dict)
