"""Test factories for the policy engine: fixed contexts, calls and the vector files."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from policy.loader import Policy, default_policy_dir, load_policy
from policy.models import EvalContext, ToolCall
from policy.paths import lexical

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy"
HOME = "/home/user"
SANDBOX = "/home/user/.ironcurtain/sessions/s1/sandbox"
PROTECTED = (
    "/home/user/.ironcurtain/config.json",
    "/home/user/.ironcurtain/generated",
    "/home/user/.ironcurtain/sessions/*/audit.jsonl",
)

_SHIPPED: Policy | None = None


def shipped_policy() -> Policy:
    global _SHIPPED  # loaded once per test run: the files never change during it
    if _SHIPPED is None:
        _SHIPPED = load_policy(default_policy_dir())
    return _SHIPPED


def tcontext(**overrides: Any) -> EvalContext:
    """A context with fixed folders and a lexical resolver (no disk), unless overridden."""
    values: dict[str, Any] = {
        "sandbox": SANDBOX,
        "protected_patterns": PROTECTED,
        "home": HOME,
        "resolve_path": lexical,
    }
    values.update(overrides)
    return EvalContext(**values)


def tcall(server: str, tool: str, **arguments: Any) -> ToolCall:
    return ToolCall(server=server, tool=tool, arguments=arguments)


def vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


def substitute(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace("$ROOT", root)
    if isinstance(value, list):
        return [substitute(v, root) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, root) for k, v in value.items()}
    return value


def materialize(root: Path, *setups: dict[str, Any]) -> None:
    """Create the folders, files and symlinks a vector describes, under ``root``."""
    for setup in setups:
        for folder in setup.get("dirs", ()):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for file in setup.get("files", ()):
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_text("x")
        for link, target in setup.get("symlinks", {}).items():
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(substitute(target, str(root)), root / link)


def load_vector_file(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def make_policy(
    rules: list[dict[str, Any]],
    tools: dict[str, dict[str, Any]] | None = None,
    lists: dict[str, Any] | None = None,
    server: str = "srv",
) -> Policy:
    """A policy from plain JSON-shaped data, as the files would hold it."""
    from policy.models import CompiledPolicyFile, DynamicListsFile

    tools = tools if tools is not None else {"read": {"path": ["read-path"]}}
    annotations = _annotations(json.dumps(tools), server)  # argument order matters
    compiled = CompiledPolicyFile.model_validate(
        {"rules": [_rule(i, r) for i, r in enumerate(rules)]}
    )
    dynamic = DynamicListsFile.model_validate({"lists": lists or {}})
    return Policy.build(compiled.rules, annotations, dynamic)


@functools.cache
def _annotations(tools_json: str, server: str) -> Any:
    """Annotations are frozen models: built once per shape, shared by property examples."""
    from policy.models import ToolAnnotationsFile

    tools = json.loads(tools_json)
    return ToolAnnotationsFile.model_validate(
        {
            "servers": {
                server: {
                    "tools": [
                        {
                            "toolName": name,
                            "serverName": server,
                            "sideEffects": spec.pop("_sideEffects", True),
                            "args": spec,
                        }
                        for name, spec in ((n, dict(s)) for n, s in tools.items())
                    ]
                }
            }
        }
    )


def _rule(index: int, rule: dict[str, Any]) -> dict[str, Any]:
    full = {"name": f"rule-{index}", "reason": f"reason {index}", "then": "allow", "if": {}}
    full.update(rule)
    return full
