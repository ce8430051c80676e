"""Stage 2: the constitution turned into one server's rules, by the LLM, checked here.

A rule must name its server (exactly that one), have a condition beyond the server, decide only
``allow`` or ``escalate`` (deny is what happens to anything no rule covers), and name only tools
and roles that server has. ``@list`` references are collected for stage 3. Cached per server by
the digest of the constitution and that server's annotations.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from policy.compiler.annotate import roles_for
from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.loader import STRUCTURAL_RULES
from policy.models import Rule, ServerAnnotations

__all__ = ["ServerRules", "compile_server", "list_references"]

SYSTEM = """You compile a security constitution into policy rules for ONE MCP server.
Answer with one JSON object only: {"rules": [{"name", "description", "principle", "if": {...},
"then": "allow" | "escalate", "reason"}]}. Every rule's "if" has "server": ["SERVER"] and at least
one more condition: "tool": [names], "sideEffects": bool, "roles": [roles], "paths": {"roles",
"within"}, "domains": {"roles", "allowed"}, "lists": [{"roles", "allowed", "matchType"}].
Never write "deny": whatever no rule allows or escalates is denied. Name sets of hosts or values
the constitution describes but does not list as "@list-name" in "allowed". The session sandbox
is handled before the rules. Paths start with "/" or "~/"."""


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    rules: tuple[Rule, ...]


class ServerRules(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    server: str
    input_hash: str
    rules: tuple[Rule, ...]


def compile_server(
    server: str,
    constitution: str,
    annotations: ServerAnnotations,
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
) -> ServerRules:
    tools = [t.model_dump(mode="json", by_alias=True) for t in annotations.tools]
    key = digest_of("rules", server, constitution, tools)
    cached = cache.get("rules", key)
    if cached is not None:
        progress(f"rules     {server}: cached")
        return ServerRules.model_validate(cached)
    progress(f"rules     {server}: asking the LLM")
    prompt = (
        f"Server: {server}\nConstitution:\n{constitution}\n\n"
        f"Tool annotations:\n{json.dumps(tools, indent=1)}"
    )
    system = SYSTEM.replace("SERVER", server)
    answer = ask_json(llm, system, prompt, _Answer, "rules", server)
    check_rules(server, annotations, answer.rules)
    result = ServerRules(server=server, input_hash=key, rules=answer.rules)
    cache.put("rules", key, result.model_dump(mode="json", by_alias=True))
    return result


def check_rules(server: str, annotations: ServerAnnotations, rules: tuple[Rule, ...]) -> None:
    """Raise ``CompileError`` naming the first rule that breaks a compiler rule."""
    tools = {t.tool_name for t in annotations.tools}
    allowed_roles = roles_for(server)
    seen: set[str] = set()
    for rule in rules:
        name = rule.name
        problem = _rule_problem(server, rule, tools, allowed_roles)
        if name in seen:
            problem = "the name is used twice"
        if problem:
            raise CompileError("rules", f"rule {name!r}: {problem}", server)
        seen.add(name)


def _rule_problem(
    server: str, rule: Rule, tools: set[str], allowed_roles: frozenset[str]
) -> str | None:
    cond = rule.when
    if rule.name in STRUCTURAL_RULES:
        return "the name belongs to a structural check"
    if cond.server != (server,):
        return f"must name its server as [{server!r}], got {list(cond.server or ())}"
    if rule.then not in ("allow", "escalate"):
        return f"'then' must be allow or escalate, got {rule.then!r} (deny is the default)"
    rest = cond.model_dump(exclude_none=True, exclude={"server"})
    if not rest or any(v in ((), []) for v in rest.values()):
        return "has an empty condition (it would cover every call of the server)"
    if unknown := sorted(set(cond.tool or ()) - tools):
        return f"names tool {unknown[0]!r}, which {server} does not have"
    used = set(cond.roles or ())
    for part in (cond.paths, cond.domains, *(cond.lists or ())):
        used |= set(part.roles) if part else set()
    if bad := sorted(used - allowed_roles):
        return f"names role {bad[0]!r}, which {server} tools never carry"
    return None


def list_references(rules: tuple[Rule, ...]) -> dict[str, str]:
    """``@name`` → the match type it is used with (domains for a ``domains`` condition)."""
    found: dict[str, str] = {}
    for rule in rules:
        cond = rule.when
        pairs = [(cond.domains.allowed, "domains")] if cond.domains else []
        pairs += [(item.allowed, item.match_type) for item in cond.lists or ()]
        for allowed, kind in pairs:
            for value in allowed:
                if value.startswith("@"):
                    found.setdefault(value[1:], kind)
    return found
