"""Stage 1: argument roles for every tool of a server, assigned by the LLM and checked here.

Checked: every tool annotated exactly once and no other; every argument of the tool's input
schema has roles and no invented argument does; only roles valid for that server (a fetch tool
cannot claim a ``write-path``). Cached per server by the digest of its tool list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.models import ConditionalRoles, ServerAnnotations, ToolAnnotation

__all__ = ["SERVER_ROLES", "ToolSpec", "annotate_server"]

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
_ALL_ROLES = frozenset().union(*SERVER_ROLES.values())

SYSTEM = """You assign argument roles to the tools of one MCP server for a security policy.
Answer with one JSON object only: {"tools": [{"toolName", "serverName", "comment",
"sideEffects": bool, "args": {ARG: [ROLES] or {"default": [ROLES], "when": [{"arg", "equals" or
"in", "roles"}], "whenAbsent": [ROLES]}}}]}. Annotate every tool and every argument of its input
schema (use ["none"] for arguments without a role); nested keys like "files[].path" are allowed.
Use only these roles: {roles}."""


class ToolSpec(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    name: str
    description: str = ""
    input_schema: dict[str, Any] = {}


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    tools: tuple[ToolAnnotation, ...]


def roles_for(server: str) -> frozenset[str]:
    return SERVER_ROLES.get(server, _ALL_ROLES)


def annotate_server(
    server: str,
    tools: Sequence[ToolSpec],
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
) -> ServerAnnotations:
    specs = sorted((t.model_dump() for t in tools), key=lambda t: t["name"])
    roles = sorted(roles_for(server))
    key = digest_of("annotate", server, specs, roles)
    cached = cache.get("annotate", key)
    if cached is not None:
        progress(f"annotate  {server}: cached ({len(specs)} tools)")
        return ServerAnnotations.model_validate(cached)
    progress(f"annotate  {server}: asking the LLM about {len(specs)} tools")
    prompt = f"Server: {server}\nTools:\n{json.dumps(specs, indent=1)}"
    system = SYSTEM.replace("{roles}", ", ".join(roles))
    answer = ask_json(llm, system, prompt, _Answer, "annotate", server)
    check_annotations(server, tools, answer.tools)
    # Each tool keeps the schema it was annotated against: a server whose tool changes later
    # has that tool refused until it is annotated again (appliance/chokepoint/trip.py).
    schemas = {t.name: t.input_schema for t in tools}
    stamped = [
        a.model_copy(update={"input_schema": schemas.get(a.tool_name)}) for a in answer.tools
    ]
    result = ServerAnnotations(inputHash=key, tools=tuple(sorted(stamped, key=_name)))
    cache.put("annotate", key, result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return result


def _name(tool: ToolAnnotation) -> str:
    return tool.tool_name


def check_annotations(
    server: str, tools: Sequence[ToolSpec], annotations: Sequence[ToolAnnotation]
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
        _check_args(server, specs[name], item)
    missing = sorted(set(specs) - seen)
    if missing:
        raise CompileError("annotate", f"no annotation for tool(s) {', '.join(missing)}", server)


def _check_args(server: str, spec: ToolSpec, item: ToolAnnotation) -> None:
    declared = set((spec.input_schema or {}).get("properties", {}))
    top = {key.split(".")[0].removesuffix("[]") for key in item.args}
    if extra := sorted(top - declared):
        raise CompileError("annotate", f"{spec.name}: argument {extra[0]!r} does not exist", server)
    if missing := sorted(declared - top):
        raise CompileError("annotate", f"{spec.name}: argument {missing[0]!r} has no roles", server)
    allowed = roles_for(server)
    for key, value in item.args.items():
        used = (
            set(value.default) | set(value.when_absent)
            if isinstance(value, ConditionalRoles)
            else set(value)
        )
        for clause in value.when if isinstance(value, ConditionalRoles) else ():
            used |= set(clause.roles)
        if bad := sorted(used - allowed):
            raise CompileError(
                "annotate", f"{spec.name}.{key}: role {bad[0]!r} is not valid for {server}", server
            )
