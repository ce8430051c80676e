"""The public face of the constitution compiler: the one module code outside ``policy`` imports.

The stages behind it stay private to ``policy.compiler``. Names load on first use (PEP 562), so
``ironcurtain doctor`` asking for ``constitution_digest`` does not import the pipeline, and
nothing here imports litellm until a real model is called (``policy.compiler.llm`` imports it
lazily).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy.compiler.annotate import ToolSpec
    from policy.compiler.cache import constitution_digest, digest_of
    from policy.compiler.customize import draft_user_constitution
    from policy.compiler.diff import decision_changes, diff_policies
    from policy.compiler.errors import CompileError
    from policy.compiler.install import install_files
    from policy.compiler.llm import LLM, LiteLLM
    from policy.compiler.pipeline import CompileInputs, compile_policy
    from policy.compiler.reannotate import annotate_tools
    from policy.compiler.replay import replay_audit

_HOME: dict[str, str] = {
    "ToolSpec": "policy.compiler.annotate",
    "constitution_digest": "policy.compiler.cache",
    "digest_of": "policy.compiler.cache",
    "draft_user_constitution": "policy.compiler.customize",
    "decision_changes": "policy.compiler.diff",
    "diff_policies": "policy.compiler.diff",
    "CompileError": "policy.compiler.errors",
    "LLM": "policy.compiler.llm",
    "LiteLLM": "policy.compiler.llm",
    "install_files": "policy.compiler.install",
    "CompileInputs": "policy.compiler.pipeline",
    "compile_policy": "policy.compiler.pipeline",
    "annotate_tools": "policy.compiler.reannotate",
    "replay_audit": "policy.compiler.replay",
}

__all__ = [
    "LLM",
    "CompileError",
    "CompileInputs",
    "LiteLLM",
    "ToolSpec",
    "annotate_tools",
    "compile_policy",
    "constitution_digest",
    "decision_changes",
    "diff_policies",
    "digest_of",
    "draft_user_constitution",
    "install_files",
    "replay_audit",
]


def __getattr__(name: str) -> Any:
    """Load ``name`` from its module the first time it is asked for, then keep it here."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'policy.compiler.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
