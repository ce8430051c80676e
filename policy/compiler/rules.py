"""Stage 2: the constitution turned into one server's rules, by the LLM, checked here.

A rule must name its server (exactly that one), have a condition beyond the server, decide only
``allow`` or ``escalate`` (deny is what happens to anything no rule covers), and name only tools
and roles that server has. ``@list`` references are collected for stage 3. Cached per server by
the digest of the constitution and that server's annotations.

The rules may be session-aware (``docs/policy-format.md``, *Session-aware policy*): values the
user typed in the task's request (``@task:emails``…), counters and sums a rule's ``session``
update keeps, values or runs of words a result of a given label wrote (``provenance``), what the
request asks for (``task``). Such a rule is checked as the loader checks it (built into a
policy with the server's annotations), and beyond that: a ``@task:`` list must be one the
request fills, and a ``session`` counter or sum a rule reads must be one a rule of the server
keeps (else it never moves, and the rule reads a constant).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from policy.compiler.annotate import declared_of, roles_for, roles_of
from policy.compiler.artifacts import annotations_file
from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.loader import STRUCTURAL_RULES, Policy
from policy.models import PolicyError, Rule, ServerAnnotations, ToolAnnotationsFile
from policy.session_state import is_session_list
from policy.task_grants import GRANT_LISTS

__all__ = ["ServerRules", "compile_server", "list_references"]

SYSTEM = """You compile a security constitution into policy rules for ONE MCP server.
Answer with one JSON object only: {"rules": [{"name", "description", "principle", "if": {...},
"then": "allow" | "escalate", "reason"}]}. Every rule's "if" has "server": ["SERVER"] and at least
one more condition: "tool": [names], "sideEffects": bool, "roles": [roles], "paths": {"roles",
"within"}, "domains": {"roles", "allowed"}, "lists": [{"roles", "allowed", "matchType"}].
Never write "deny": whatever no rule allows or escalates is denied. Name sets of hosts or values
the constitution describes but does not list as "@list-name" in "allowed". The session sandbox
is handled before the rules. Paths start with "/" or "~/".

Rules may also use the session (the user's task and what happened in it):
- In a "lists" or "domains" condition's "allowed", "@task:emails", "@task:urls", "@task:domains",
  "@task:amounts", "@task:paths", "@task:identifiers" (every word typed) or "@task:dates" are
  the values the user typed in this task's request. Allow a side effect's recipient, account,
  amount or target from them where the constitution says "only what I ask for"; a value the
  user never typed then falls through to a later rule, or is denied.
- "numbers": [{"roles", "gt"/"gte"/"lt"/"lte"}] bounds a number role.
- A rule's top-level "session": {"count": [NAME], "add": [{"sum": NAME, "roles"}], "extend":
  [{"list": "session:NAME", "roles"}]} records a call it allows (or a human approves); a later
  condition "session": [{"count": NAME, "lt": N}] or [{"sum": NAME, "roles", "lte": N}] reads
  it (a sum adds this call's values), and "@session:NAME" in "allowed" lists what was recorded.
- "provenance": {"roles", "from": "untrusted" | "secret"} holds when the value contains text a
  result of that label returned (a link, account or address read in a mail or a web page);
  with "words": N (4 to 12) when a message's text repeats N words such a result wrote; with
  "afterText": N (1 to 64) when a message's text was written once the agent had read a text of
  N words or more in such a result (it may repeat an instruction in other words). Put an
  escalate rule on provenance before the allow rules it guards.
- "task": {"mentions": [WORDS]} / {"mentionsNone": [WORDS]}: the request holds one of these
  words, or none ("pay*": a word starting so).
The first rule covering a value decides it."""


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
    declared = {
        name: spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for name, spec in sorted(declared_of(annotations).items())
    }
    key = digest_of("rules", server, constitution, tools, *([declared] if declared else []))

    def checked(entry: Any) -> ServerRules:
        hit = ServerRules.model_validate(entry)
        check_rules(server, annotations, hit.rules)
        return hit

    if (hit := cache.get_checked("rules", key, checked)) is not None:
        progress(f"rules     {server}: cached")
        return hit
    progress(f"rules     {server}: asking the LLM")
    prompt = (
        f"Server: {server}\nConstitution:\n{constitution}\n\n"
        f"Tool annotations:\n{json.dumps(tools, indent=1)}"
    )
    if declared:
        prompt += f"\n\nThe server's own roles:\n{json.dumps(declared, indent=1)}"
    system = SYSTEM.replace("SERVER", server)
    answer = ask_json(llm, system, prompt, _Answer, "rules", server)
    check_rules(server, annotations, answer.rules)
    result = ServerRules(server=server, input_hash=key, rules=answer.rules)
    cache.put("rules", key, result.model_dump(mode="json", by_alias=True))
    return result


def check_rules(server: str, annotations: ServerAnnotations, rules: tuple[Rule, ...]) -> None:
    """Raise ``CompileError`` naming the first rule that breaks a compiler rule."""
    tools = {t.tool_name for t in annotations.tools}
    # a role no tool of the server carries: a rule on it never holds (an escalate guard on
    # provenance that never fires); the server's vocabulary alone is not enough
    allowed_roles = roles_for(server, declared_of(annotations)) & _carried(annotations)
    kept = _kept(rules, annotations)
    seen: set[str] = set()
    for rule in rules:
        name = rule.name
        problem = _rule_problem(server, rule, tools, allowed_roles) or _session_problem(rule, kept)
        if name in seen:
            problem = "the name is used twice"
        if problem:
            raise CompileError("rules", f"rule {name!r}: {problem}", server)
        seen.add(name)
    _built(server, annotations, rules)


def _carried(annotations: ServerAnnotations) -> frozenset[str]:
    return frozenset(role for tool in annotations.tools for role in roles_of(tool))


def _kept(rules: tuple[Rule, ...], annotations: ServerAnnotations) -> set[tuple[str, str]]:
    """The counters, sums and session lists the rules' ``session`` updates keep: a rule's
    update counts only when the rule can apply to some tool of the server (its ``tool`` and
    ``sideEffects`` conditions; a keeper on ``sideEffects: false`` of a side effect never runs)."""
    kept: set[tuple[str, str]] = set()
    for rule in rules:
        update = rule.session
        cond = rule.when
        applies = any(
            (cond.tool is None or tool.tool_name in cond.tool)
            and (cond.side_effects is None or cond.side_effects == tool.side_effects)
            for tool in annotations.tools
        )
        if update is not None and applies:
            kept |= {("count", name) for name in update.count}
            kept |= {("sum", item.sum) for item in update.add}
            kept |= {("list", item.list) for item in update.extend}
    return kept


def _session_problem(rule: Rule, kept: set[tuple[str, str]]) -> str | None:
    cond = rule.when
    allowed = [value for item in cond.lists or () for value in item.allowed]
    allowed += list(cond.domains.allowed) if cond.domains else []
    for value in allowed:
        name = value.removeprefix("@")
        if not value.startswith("@") or not is_session_list(name):
            continue
        if name.startswith("task:") and name not in GRANT_LISTS:
            known = ", ".join(f"@{n}" for n in GRANT_LISTS)
            return f"names {value}, which no request fills (the task's lists: {known})"
        if name.startswith("session:") and ("list", name) not in kept:
            return f"names {value}, which no rule's session update extends"
    for item in cond.session or ():
        kind, name = ("count", item.count) if item.count is not None else ("sum", item.sum)
        if (kind, name) not in kept:
            return f"reads the {kind} {name!r}, which no rule's session update keeps"
    return None


def _built(server: str, annotations: ServerAnnotations, rules: tuple[Rule, ...]) -> None:
    """The rules built into a policy with the server's annotations, as the loader builds one:
    what it refuses (a role no tool carries in a provenance condition, a malformed bound) is
    refused here, named, instead of when the policy is installed."""
    content = annotations_file({server: annotations}, "")
    try:
        Policy.build(rules, ToolAnnotationsFile.model_validate(content))
    except (PolicyError, ValueError) as exc:
        raise CompileError("rules", f"the rules do not load: {exc}", server) from None


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
    parts = (cond.paths, cond.domains, cond.provenance, *(cond.lists or ()))
    for part in (*parts, *(cond.numbers or ()), *(cond.session or ())):
        used |= set(part.roles) if part else set()
    if rule.session is not None:
        used |= {r for item in (*rule.session.extend, *rule.session.add) for r in item.roles}
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
                # @task: and @session: lists are the session's, never resolved by an LLM
                if value.startswith("@") and not is_session_list(value[1:]):
                    found.setdefault(value[1:], kind)
    return found
