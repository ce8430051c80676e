"""The four files a build writes, as JSON values, and reading back what the user keeps across
builds (their manual list edits). Formats: ``docs/policy-format.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policy.compiler.annotate import AnnotatedServer, declared_of, roles_of
from policy.compiler.cache import constitution_digest
from policy.compiler.errors import CompileError
from policy.compiler.scenarios import CONTEXT, InvariantFile
from policy.models import DynamicList, DynamicListsFile, Rule, ServerAnnotations
from policy.role_specs import RoleSpec
from policy.scenarios import Scenario

__all__ = ["annotations_file", "old_lists", "policy_files"]


def annotations_file(
    by_server: Mapping[str, ServerAnnotations],
    now: str,
    kept_roles: Mapping[str, RoleSpec] | None = None,
) -> dict[str, Any]:
    """The file's JSON: every server's tools, and at the top level the roles declared for the
    servers (``AnnotatedServer.roles``) beside those of ``kept_roles`` (an older file's) that a
    server still carries. One name declared two ways, by two servers annotated now or by one
    of them and the older file for a server that uses it, is a ``CompileError`` naming both."""
    kept = dict(kept_roles or {})
    roles: dict[str, RoleSpec] = {}
    declared_by: dict[str, str] = {}  # role -> the server annotated now that declared it
    for server in sorted(by_server):
        for name, spec in declared_of(by_server[server]).items():
            first = declared_by.setdefault(name, server)
            if first != server and roles[name] != spec:
                message = f"role {name!r} is declared by {first} and {server} differently"
                raise CompileError("annotate", message)
            roles[name] = spec
    carried = {
        server: {role for tool in entry.tools for role in roles_of(tool)}
        for server, entry in by_server.items()
    }
    for name, spec in kept.items():
        # the servers not annotated now (read back from the older file) that carry it
        users = sorted(
            s for s, names in carried.items() if name in names and not _fresh(by_server[s])
        )
        if name in roles and roles[name] != spec and users:
            message = (
                f"role {name!r} is declared by {declared_by[name]} differently from the "
                f"current annotations, which {users[0]} uses"
            )
            raise CompileError("annotate", message)
        if name not in roles and users:
            roles[name] = spec  # still carried by a server not annotated now; else dropped
    servers = {
        s: a.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"roles"})
        for s, a in by_server.items()
    }
    content: dict[str, Any] = {"generatedAt": now}
    if roles:
        content["roles"] = {
            name: spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for name, spec in sorted(roles.items())
        }
    content["servers"] = dict(sorted(servers.items()))
    return content


def _fresh(annotations: ServerAnnotations) -> bool:
    return isinstance(annotations, AnnotatedServer)


def policy_files(
    *,
    constitution: str,
    rules: Sequence[Rule],
    annotations: Mapping[str, ServerAnnotations],
    lists: Mapping[str, DynamicList],
    scenarios: Sequence[Scenario],
    invariants: InvariantFile,
    now: str,
) -> dict[str, Any]:
    dumped_rules = [r.model_dump(mode="json", by_alias=True, exclude_defaults=True) for r in rules]
    dumped_lists = {
        n: item.model_dump(mode="json", by_alias=True, exclude_none=True)
        for n, item in sorted(lists.items())
    }
    return {
        "compiled-policy.json": {
            "generatedAt": now,
            "constitutionHash": constitution_digest(constitution),
            "rules": dumped_rules,
        },
        "tool-annotations.json": annotations_file(annotations, now),
        "dynamic-lists.json": {"generatedAt": now, "lists": dumped_lists},
        "test-scenarios.json": _scenario_file(scenarios, invariants, annotations),
    }


def _scenario_file(
    scenarios: Sequence[Scenario],
    invariants: InvariantFile,
    annotations: Mapping[str, ServerAnnotations],
) -> dict[str, Any]:
    """The LLM's scenarios plus every exact invariant about a tool this policy has, so ``policy
    test`` replays both (an invariant that only forbids a decision has no place in this format
    and stays in its file; one about a server the policy was not compiled for is skipped, as
    the verify stage skips it)."""
    items = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in scenarios]
    tools = {(server, t.tool_name) for server, entry in annotations.items() for t in entry.tools}
    if invariants.context == CONTEXT:
        for inv in invariants.invariants:
            if inv.expected_decision is None:
                continue
            if (inv.request.server_name, inv.request.tool_name) not in tools:
                continue
            item = {
                "description": inv.description,
                "request": inv.request.model_dump(mode="json", by_alias=True),
                "expectedDecision": inv.expected_decision,
                "source": "invariant",
            }
            if inv.expected_rule:
                item["expectedRule"] = inv.expected_rule
            items.append(item)
    return {"context": CONTEXT.model_dump(mode="json", by_alias=True), "scenarios": items}


def old_lists(folder: Path) -> dict[str, DynamicList]:
    """The lists of the active policy (their manual additions and removals are the user's)."""
    try:
        data = (folder / "dynamic-lists.json").read_bytes()
        return dict(DynamicListsFile.model_validate_json(data).lists)
    except (OSError, ValueError):
        return {}
