"""Stage 1: argument roles for every tool of a server, assigned by the LLM and checked here.

Checked: every tool annotated exactly once and no other; every argument of the tool's input
schema has roles and no invented argument does; only roles valid for that server (a fetch tool
cannot claim a ``write-path``). Cached per server by the digest of its tool list.

A shipped server's roles are fixed (``SERVER_ROLES``). For a declared one (payments, mail,
tickets) the annotator may also declare the server's own roles, as a policy author does in
``tool-annotations.json``'s ``"roles"`` (``{"payee": {"kind": "identifier"}}``), and say which
tools return text the user did not write (``"result": "untrusted"``, the default) or a secret
(``"secret"``): the session-aware rules of stage 2 read both. A declared role is checked as the
loader checks one (name, kind, match, extract), may not reuse a built-in name, and must be used
by some argument of the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.models import ServerAnnotations, ToolAnnotation, arg_roles
from policy.role_specs import BUILTIN_TABLE, ROLE_NAME, RoleSpec, RoleTable

__all__ = [
    "SERVER_ROLES",
    "AnnotatedServer",
    "ToolSpec",
    "annotate_server",
    "declared_of",
    "roles_for",
    "roles_of",
]

_PATHS = ("read-path", "write-path", "delete-path")
SERVER_ROLES: dict[str, frozenset[str]] = {
    "filesystem": frozenset({*_PATHS, "none"}),
    "git": frozenset(
        {*_PATHS, "write-history", "delete-history", "git-remote-url", "branch-name"}
        | {"commit-message", "none"}
    ),
    "fetch": frozenset({"fetch-url", "none"}),
    "github": frozenset({"github-owner", "github-repo", "branch-name", "fetch-url", "none"}),
}

SYSTEM = """You assign argument roles to the tools of one MCP server for a security policy.
Answer with one JSON object only: {"tools": [{"toolName", "serverName", "comment",
"sideEffects": bool, "args": {ARG: [ROLES] or {"default": [ROLES], "when": [{"arg", "equals" or
"in", "roles"}], "whenAbsent": [ROLES]}}}]}. Annotate every tool and every argument of its input
schema (use ["none"] for arguments without a role); nested keys like "files[].path" are allowed.
Use only these roles: {roles}."""

# For a server that is not shipped: the annotator may declare the server's own roles.
DECLARING = """
This server is not one of the shipped ones: you may also declare its own roles in a top-level
"roles": {NAME: {"kind", "description", "match"?, "extract"?}} (NAME lower-case with hyphens,
not one of the roles above). kind: "identifier" (an account, recipient, ticket id, username:
judged against lists of allowed values; "match": "exact" | "case-insensitive"), "number" (an
amount, a quantity), "url", "path", "text" with "extract": "urls" | "emails" | "phones" | "ibans"
(the links, addresses or numbers found in a free text are judged), or "opaque" (never judged:
a subject, a message's whole text). Give a free text argument that can carry links or numbers
both kinds of role: ["text-urls", "text-phones", "message-text"] with "message-text" opaque.
An argument of a side effect whose value changes what it does (a merge method, a month, a scope,
a mode) is not "none": declare an identifier role for it, so a rule can allow the values the
user asks for and ask about the rest ("none" is never judged: any value passes).
Per tool you may add "result": "untrusted" (the default: its results carry text others wrote,
such as mail, web pages, comments), "trusted" (only the user's own data) or "secret"."""


class ToolSpec(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    name: str
    description: str = ""
    input_schema: dict[str, Any] = {}


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    tools: tuple[ToolAnnotation, ...]


class AnnotatedServer(ServerAnnotations):
    """A server's annotations with the roles the annotator declared for it (a declared server
    only). ``artifacts.annotations_file`` lifts them to the file's top-level ``"roles"``."""

    roles: dict[str, RoleSpec] = Field(default_factory=dict)


def roles_for(server: str, declared: Mapping[str, RoleSpec] | None = None) -> frozenset[str]:
    """The roles ``server``'s tools may carry: a shipped server's fixed set; a declared server's
    every built-in and shipped role and the roles declared for it."""
    if server in SERVER_ROLES:
        return SERVER_ROLES[server]
    return frozenset(BUILTIN_TABLE.names()) | frozenset(declared or ())


def declared_of(annotations: ServerAnnotations) -> dict[str, RoleSpec]:
    """The roles declared for a server by its annotator (none for a shipped server)."""
    return dict(annotations.roles) if isinstance(annotations, AnnotatedServer) else {}


def annotate_server(
    server: str,
    tools: Sequence[ToolSpec],
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
) -> AnnotatedServer:
    specs = sorted((t.model_dump() for t in tools), key=lambda t: t["name"])
    roles = sorted(roles_for(server))
    key = digest_of("annotate", server, specs, roles)

    def checked(entry: Any) -> AnnotatedServer:
        hit = AnnotatedServer.model_validate(entry)
        _check_answer(server, tools, hit.roles, hit.tools)
        return hit

    if (hit := cache.get_checked("annotate", key, checked)) is not None:
        progress(f"annotate  {server}: cached ({len(specs)} tools)")
        return hit
    progress(f"annotate  {server}: asking the LLM about {len(specs)} tools")
    prompt = f"Server: {server}\nTools:\n{json.dumps(specs, indent=1)}"
    system = SYSTEM.replace("{roles}", ", ".join(roles))
    if server not in SERVER_ROLES:
        system += DECLARING
    answer = ask_json(llm, system, prompt, _Answer, "annotate", server)
    _check_answer(server, tools, answer.roles, answer.tools)
    # Each tool keeps the schema it was annotated against: a server whose tool changes later
    # has that tool refused until it is annotated again (appliance/chokepoint/trip.py).
    schemas = {t.name: t.input_schema for t in tools}
    stamped = [
        a.model_copy(update={"input_schema": schemas.get(a.tool_name)}) for a in answer.tools
    ]
    result = AnnotatedServer(
        inputHash=key, tools=tuple(sorted(stamped, key=_name)), roles=answer.roles
    )
    for line in _declared_summary(result, server not in SERVER_ROLES):
        progress(f"annotate  {server}: {line}")
    cache.put("annotate", key, result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return result


_SANDBOX_ROLES = BUILTIN_TABLE.sandbox_roles


def _declared_summary(annotations: AnnotatedServer, declared_server: bool) -> list[str]:
    """What the annotator decided that weakens or shapes the policy, for the user to see: the
    roles it declared; for a declared server, the arguments it read as sandbox paths (allowed
    inside the sandbox before any rule), the tools it said have no side effects, and those whose
    results it said are not others' text."""
    lines = []
    if annotations.roles:
        shown = ", ".join(
            f"{n} ({spec.kind if spec.kind != 'text' or spec.extract else 'text, never judged'})"
            for n, spec in sorted(annotations.roles.items())
        )
        lines.append(f"declared roles {shown}")
    if not declared_server:
        return lines
    sandboxed = [
        f"{t.tool_name}.{arg} ({', '.join(sorted(arg_roles(value) & _SANDBOX_ROLES))})"
        for t in annotations.tools
        for arg, value in t.args.items()
        if arg_roles(value) & _SANDBOX_ROLES
    ]
    if sandboxed:  # a declared server's arguments read as paths: discharged in the sandbox
        lines.append(f"allowed inside the session sandbox before any rule: {', '.join(sandboxed)}")
    if reads := [t.tool_name for t in annotations.tools if not t.side_effects]:
        lines.append(
            f"no side effects (read rules cover them, the lint skips them): {', '.join(reads)}"
        )
    said = {"trusted": "results trusted (not others' text)", "secret": "results secret"}
    for label, shown in said.items():
        if tools := [t.tool_name for t in annotations.tools if t.result == label]:
            lines.append(f"{shown}: {', '.join(tools)}")
    return lines


def _name(tool: ToolAnnotation) -> str:
    return tool.tool_name


def check_declared_roles(server: str, declared: Mapping[str, RoleSpec]) -> None:
    """Raise ``CompileError`` for a role a shipped server declares, or a name the loader would
    refuse or that is built in."""
    if not declared:
        return
    if server in SERVER_ROLES:
        first = sorted(declared)[0]
        raise CompileError(
            "annotate", f"declares role {first!r}: {server}'s roles are fixed", server
        )
    for name in sorted(declared):
        if not ROLE_NAME.fullmatch(name):
            raise CompileError(
                "annotate", f"declared role {name!r} is not a lower-case name like 'payee'", server
            )
    try:
        RoleTable(declared)
    except ValueError as exc:
        raise CompileError("annotate", f"declared roles: {exc}", server) from None
    # values inside the session sandbox are discharged before any rule: for a path role a
    # person declares, never the annotator (an IBAN read as a relative path is "in the sandbox")
    if safe := sorted(n for n, spec in declared.items() if spec.sandbox_safe):
        message = f"declared role {safe[0]!r}: sandboxSafe is written by hand, not by the annotator"
        raise CompileError("annotate", message, server)
    # a shipped default (IronCurtain's email-address, …) keeps its meaning for every server
    if shipped := sorted(set(declared) & set(BUILTIN_TABLE.names())):
        message = f"declared role {shipped[0]!r} is shipped and cannot be declared again"
        raise CompileError("annotate", message, server)


def _check_answer(
    server: str,
    tools: Sequence[ToolSpec],
    declared: Mapping[str, RoleSpec],
    annotations: Sequence[ToolAnnotation],
) -> None:
    check_declared_roles(server, declared)
    check_annotations(server, tools, annotations, declared)
    check_roles_used(server, declared, annotations)
    check_hand_written(server, annotations)


def check_hand_written(server: str, annotations: Sequence[ToolAnnotation]) -> None:
    """Raise ``CompileError`` for what only a person writes in annotations: a listing's
    ``records``, ``askedBy``/``whenNotAsked`` (which records and instructions bind a task's
    values: the annotator would be choosing what the user meant), and, for a shipped server, a
    result label other than the default (``trusted`` on fetch would take every page out of
    provenance for every server's rules)."""
    for item in annotations:
        written = [
            field
            for field, value in (
                ("records", item.records),
                ("askedBy", item.asked_by),
                ("whenNotAsked", None if item.when_not_asked == "deny" else item.when_not_asked),
            )
            if value is not None
        ]
        if written:
            message = f"{item.tool_name}: {written[0]} is written by hand, not by the annotator"
            raise CompileError("annotate", message, server)
        if server in SERVER_ROLES and item.result not in (None, "untrusted"):
            message = f"{item.tool_name}: result {item.result!r}: {server}'s labels are fixed"
            raise CompileError("annotate", message, server)


def check_roles_used(
    server: str, declared: Mapping[str, RoleSpec], annotations: Sequence[ToolAnnotation]
) -> None:
    """Raise ``CompileError`` for a declared role no argument of the server carries."""
    used = {role for item in annotations for role in roles_of(item)}
    if unused := sorted(set(declared) - used):
        raise CompileError(
            "annotate", f"declared role {unused[0]!r} is carried by no argument", server
        )


def roles_of(item: ToolAnnotation) -> set[str]:
    """Every role an argument of the tool can carry (a conditional's every branch)."""
    return {role for value in item.args.values() for role in arg_roles(value)}


def check_annotations(
    server: str,
    tools: Sequence[ToolSpec],
    annotations: Sequence[ToolAnnotation],
    declared: Mapping[str, RoleSpec] | None = None,
) -> None:
    """Raise ``CompileError`` naming the first tool, argument or role that does not fit."""
    specs = {t.name: t for t in tools}
    seen: set[str] = set()
    for item in annotations:
        name = item.tool_name
        if name not in specs:
            raise CompileError("annotate", f"annotation for unknown tool {name!r}", server)
        if name in seen:
            raise CompileError("annotate", f"tool {name!r} annotated twice", server)
        if item.server_name != server:
            raise CompileError("annotate", f"{name}: serverName {item.server_name!r}", server)
        seen.add(name)
        _check_args(server, specs[name], item, roles_for(server, declared))
    missing = sorted(set(specs) - seen)
    if missing:
        raise CompileError("annotate", f"no annotation for tool(s) {', '.join(missing)}", server)


def _check_args(server: str, spec: ToolSpec, item: ToolAnnotation, allowed: frozenset[str]) -> None:
    declared = set((spec.input_schema or {}).get("properties", {}))
    top = {key.split(".")[0].removesuffix("[]") for key in item.args}
    if extra := sorted(top - declared):
        raise CompileError("annotate", f"{spec.name}: argument {extra[0]!r} does not exist", server)
    if missing := sorted(declared - top):
        raise CompileError("annotate", f"{spec.name}: argument {missing[0]!r} has no roles", server)
    for key, value in item.args.items():
        if bad := sorted(arg_roles(value) - allowed):
            raise CompileError(
                "annotate", f"{spec.name}.{key}: role {bad[0]!r} is not valid for {server}", server
            )
