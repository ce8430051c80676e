"""Calls for every tool of an IronCurtain policy, made from its annotations and input schemas, to
compare two engines decision by decision (``bench_ironcurtain.py --ironcurtain``).

Each tool gets one base call (every argument at its first candidate value) and one variant per
other candidate of each argument: paths in the sandbox, Downloads, Documents, a system file and
IronCurtain's own config; URLs of known and unknown hosts; owners, repositories and addresses in
and out of typical lists; every value of an enum and both booleans (conditional roles hang on
them). Arguments with the role ``none`` that are not required and no condition reads are left
out. Nothing here knows either engine.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["calls_for"]

_MAX_PER_TOOL = 40


def _candidates(role: str, schema: dict[str, Any], folders: dict[str, str]) -> list[Any]:
    if role in ("read-path", "write-path", "delete-path", "write-history", "delete-history"):
        return [
            folders["sandbox"] + "/proj/a.txt",
            "~/Downloads/a.txt",
            "~/Documents/a.txt",
            "/etc/hosts",
            folders["ironcurtainHome"] + "/config.json",
        ]
    if role == "fetch-url":
        return [
            "https://github.com/provos",
            "https://news.ycombinator.com/",
            "https://evil.example/x",
        ]
    if role == "git-remote-url":
        return ["https://github.com/provos/ironcurtain.git", "https://evil.example/r.git", "origin"]
    if role == "github-owner":
        return ["provos", "someone-else"]
    if role == "github-repo":
        return ["ironcurtain", "other-repo"]
    if role == "email-address":
        return ["alice@example.com", "mallory@evil.example"]
    if role == "share-permission":
        return ["reader", "writer"]
    return _plain(schema)


def _plain(schema: dict[str, Any]) -> list[Any]:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return list(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "boolean":
        return [False, True]
    if kind in ("number", "integer"):
        return [1]
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [[_plain(items)[0]]]
    if kind == "object":
        return [{}]
    return ["x"]


def _roles(spec: Any) -> tuple[set[str], set[str]]:
    """(every role an argument may take, the arguments its conditions read)."""
    if isinstance(spec, list):
        return set(spec), set()
    roles, reads = set(spec.get("default", [])), set()
    for branch in spec.get("when", []):
        roles.update(branch.get("roles", []))
        condition = branch.get("condition", {})
        if isinstance(condition.get("arg"), str):
            reads.add(condition["arg"])
    return roles, reads


def calls_for(annotations: dict[str, Any], folders: dict[str, str]) -> list[dict[str, Any]]:
    """``{"description", "call": {server, tool, arguments}}`` for every annotated tool."""
    out: list[dict[str, Any]] = []
    for server, data in annotations["servers"].items():
        for tool in data["tools"]:
            schema = tool.get("inputSchema") or {}
            properties = schema.get("properties") or {}
            required = set(schema.get("required") or [])
            read_by_conditions: set[str] = set()
            roles_of: dict[str, set[str]] = {}
            for arg, spec in tool["args"].items():
                roles_of[arg], reads = _roles(spec)
                read_by_conditions |= reads
            options: dict[str, list[Any]] = {}
            for arg, roles in roles_of.items():
                wanted = arg in required or arg in read_by_conditions or roles - {"none"}
                if not wanted:
                    continue
                role = next((r for r in sorted(roles) if r != "none"), "none")
                options[arg] = _candidates(role, properties.get(arg) or {}, folders)
            for arg in required - set(options):
                options[arg] = _plain(properties.get(arg) or {})
            base = {arg: values[0] for arg, values in options.items()}
            made = [base]
            for arg, values in options.items():
                for value in values[1:]:
                    made.append({**base, arg: value})
            seen: set[str] = set()
            for arguments in made[:_MAX_PER_TOOL]:
                key = json.dumps(arguments, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                out.append(
                    {
                        "description": f"{server}/{tool['toolName']} {key[:120]}",
                        "call": {
                            "server": server,
                            "tool": tool["toolName"],
                            "arguments": arguments,
                        },
                    }
                )
    return out
