"""The public face of the policy engine: the one module code outside ``policy`` imports.

Everything a host, a command or a server needs from the pure core is named here; the modules
behind it (``engine``, ``facts``, ``loader``, ``models``, ``paths``, ``roles``, ``scenarios``,
``schema``, ``safe_json``) are private to ``policy`` and may be reorganised without touching a
caller. ``tests/architecture/test_boundaries.py`` fails when code outside ``policy`` imports them.

Names load on first use (PEP 562 ``__getattr__``), not when this module is imported: a command
that only parses JSON (``ironcurtain exec``) must not pay for pydantic models of the whole
engine at start, and the façade must not make it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy.describe import describe_condition
    from policy.engine import evaluate
    from policy.facts import CallFacts, RoleFact
    from policy.lint import Finding, lint
    from policy.loader import POLICY_FILES, Policy, default_policy_dir, load_policy
    from policy.models import (
        Decision,
        EvalContext,
        PolicyLoadError,
        ServerAnnotations,
        ToolAnnotationsFile,
        ToolCall,
        arg_roles,
    )
    from policy.paths import absolute, lexical, resolve_on_disk
    from policy.provenance import ProvenanceMemory
    from policy.roles import extract_roles
    from policy.safe_json import JSONRefused, loads
    from policy.scenarios import load_scenarios, replay
    from policy.schema import check_arguments
    from policy.session_policy import SessionPolicies, evaluate_in_session
    from policy.session_run import Judged, SessionRun
    from policy.session_state import (
        SECRET_MARK,
        SessionState,
        StateUpdate,
        apply_updates,
        scoped_list,
    )
    from policy.task_binding import score_of_count
    from policy.task_grants import (
        ASKED,
        ASKED_IF,
        GRANT_LISTS,
        asked_in,
        describe_grants,
        task_grants,
    )
    from policy.task_plan import CheckedPlan, PlanStep, check_plan

# public name -> the private module that defines it
_HOME: dict[str, str] = {
    "evaluate": "policy.engine",
    "describe_condition": "policy.describe",
    "CallFacts": "policy.facts",
    "RoleFact": "policy.facts",
    "Finding": "policy.lint",
    "lint": "policy.lint",
    "POLICY_FILES": "policy.loader",
    "Policy": "policy.loader",
    "default_policy_dir": "policy.loader",
    "load_policy": "policy.loader",
    "Decision": "policy.models",
    "EvalContext": "policy.models",
    "PolicyLoadError": "policy.models",
    "ToolCall": "policy.models",
    "ServerAnnotations": "policy.models",
    "ToolAnnotationsFile": "policy.models",
    "arg_roles": "policy.models",
    "absolute": "policy.paths",
    "lexical": "policy.paths",
    "resolve_on_disk": "policy.paths",
    "extract_roles": "policy.roles",
    "JSONRefused": "policy.safe_json",
    "loads": "policy.safe_json",
    "load_scenarios": "policy.scenarios",
    "replay": "policy.scenarios",
    "check_arguments": "policy.schema",
    "ProvenanceMemory": "policy.provenance",
    "Judged": "policy.session_run",
    "SessionRun": "policy.session_run",
    "SessionPolicies": "policy.session_policy",
    "evaluate_in_session": "policy.session_policy",
    "SECRET_MARK": "policy.session_state",
    "SessionState": "policy.session_state",
    "StateUpdate": "policy.session_state",
    "apply_updates": "policy.session_state",
    "score_of_count": "policy.task_binding",
    "describe_grants": "policy.task_grants",
    "task_grants": "policy.task_grants",
    "ASKED": "policy.task_grants",
    "ASKED_IF": "policy.task_grants",
    "GRANT_LISTS": "policy.task_grants",
    "asked_in": "policy.task_grants",
    "scoped_list": "policy.session_state",
    "CheckedPlan": "policy.task_plan",
    "PlanStep": "policy.task_plan",
    "check_plan": "policy.task_plan",
}

__all__ = [
    "ASKED",
    "ASKED_IF",
    "GRANT_LISTS",
    "POLICY_FILES",
    "SECRET_MARK",
    "CallFacts",
    "CheckedPlan",
    "Decision",
    "EvalContext",
    "Finding",
    "JSONRefused",
    "Judged",
    "PlanStep",
    "Policy",
    "PolicyLoadError",
    "ProvenanceMemory",
    "RoleFact",
    "ServerAnnotations",
    "SessionPolicies",
    "SessionRun",
    "SessionState",
    "StateUpdate",
    "ToolAnnotationsFile",
    "ToolCall",
    "absolute",
    "apply_updates",
    "arg_roles",
    "asked_in",
    "check_arguments",
    "check_plan",
    "default_policy_dir",
    "describe_condition",
    "describe_grants",
    "evaluate",
    "evaluate_in_session",
    "extract_roles",
    "lexical",
    "lint",
    "load_policy",
    "load_scenarios",
    "loads",
    "replay",
    "resolve_on_disk",
    "scoped_list",
    "score_of_count",
    "task_grants",
]


def __getattr__(name: str) -> Any:
    """Load ``name`` from its module the first time it is asked for, then keep it here."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'policy.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
