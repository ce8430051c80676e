"""The deterministic policy engine: pure functions over frozen models — and its public API.

``evaluate(call, policy, context) -> Decision`` decides allow, deny or escalate for one tool
call. The core does no I/O beyond the path resolver injected through the context (and the
loader reading the policy files), reads no environment and keeps no global state. It never
imports ``appliance``, ``servers`` or ``policy.compiler`` — the compiler (``policy/compiler/``)
is the LLM pipeline that *writes* policies; it does I/O and uses litellm, and stands apart.

Outsiders import the engine only from here (``from policy import evaluate, load_policy``); the
names load on first use, so a server importing the wire helpers does not pay for pydantic.
The wire helpers ``policy.safe_json`` and ``policy.schema`` are standard-library-only modules
shared with the servers (tests/architecture/boundaries.json).

Modules: ``models`` (files, call, context, decision, errors), ``loader`` (``load_policy``,
``Policy``), ``engine`` (``evaluate``), ``roles`` (arguments → role values, ``extract_roles``),
``rules`` (rules compiled per tool and role), ``paths`` (resolution, protected patterns),
``domains`` (hosts and patterns), ``scenarios`` (test-scenarios.json replay), ``schema``
(argument schemas), ``safe_json`` (bounded JSON). Formats and semantics: docs/policy-format.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_API = {
    "evaluate": "policy.engine",
    "Decision": "policy.models",
    "EvalContext": "policy.models",
    "ToolCall": "policy.models",
    "PolicyError": "policy.models",
    "PolicyLoadError": "policy.models",
    "ArgumentError": "policy.models",
    "ServerAnnotations": "policy.models",
    "ToolAnnotationsFile": "policy.models",
    "Policy": "policy.loader",
    "POLICY_FILES": "policy.loader",
    "load_policy": "policy.loader",
    "default_policy_dir": "policy.loader",
    "extract_roles": "policy.roles",
    "absolute": "policy.paths",
    "lexical": "policy.paths",
    "resolve_on_disk": "policy.paths",
    "host_of": "policy.domains",
    "load_scenarios": "policy.scenarios",
    "replay": "policy.scenarios",
    "check_arguments": "policy.schema",
    "JSONRefused": "policy.safe_json",
    "safe_loads": "policy.safe_json",
}
__all__ = [
    "POLICY_FILES",
    "ArgumentError",
    "Decision",
    "EvalContext",
    "JSONRefused",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "ServerAnnotations",
    "ToolAnnotationsFile",
    "ToolCall",
    "absolute",
    "check_arguments",
    "default_policy_dir",
    "evaluate",
    "extract_roles",
    "host_of",
    "lexical",
    "load_policy",
    "load_scenarios",
    "replay",
    "resolve_on_disk",
    "safe_loads",
]

if TYPE_CHECKING:
    from policy.domains import host_of
    from policy.engine import evaluate
    from policy.loader import POLICY_FILES, Policy, default_policy_dir, load_policy
    from policy.models import (
        ArgumentError,
        Decision,
        EvalContext,
        PolicyError,
        PolicyLoadError,
        ServerAnnotations,
        ToolAnnotationsFile,
        ToolCall,
    )
    from policy.paths import absolute, lexical, resolve_on_disk
    from policy.roles import extract_roles
    from policy.safe_json import JSONRefused
    from policy.safe_json import loads as safe_loads
    from policy.scenarios import load_scenarios, replay
    from policy.schema import check_arguments


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), "loads" if name == "safe_loads" else name)
    globals()[name] = value
    return value
