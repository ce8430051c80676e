"""``annotate-tools`` on its own: new annotations for some servers, the others kept.

Each changed tool is shown before anything is written. When a compiled policy is active, the
new annotations must still pass its scenarios and the invariants with the current rules, or the
old file stays (the user is told to run ``compile-policy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from policy.compiler import verify
from policy.compiler.annotate import annotate_server
from policy.compiler.artifacts import annotations_file
from policy.compiler.cache import StageCache
from policy.compiler.errors import CompileError
from policy.compiler.install import install_files
from policy.compiler.llm import LLM
from policy.compiler.pipeline import CompileInputs, Progress, parallel
from policy.compiler.scenarios import CONTEXT, load_invariants
from policy.loader import Policy, load_policy
from policy.models import (
    DynamicList,
    DynamicListsFile,
    PolicyError,
    ServerAnnotations,
    ToolAnnotationsFile,
)
from policy.scenarios import load_scenarios

__all__ = ["annotate_tools"]

Show = Callable[[str, Any, Any], None]


def annotate_tools(
    inputs: CompileInputs, llm: LLM, progress: Progress, show: Show = lambda *_: None
) -> list[str]:
    """Returns the changed ``server/tool`` names, each passed to ``show(name, old, new)``
    (annotation JSON, ``None`` for absent) before the file is replaced."""
    cache = StageCache(inputs.cache_dir)
    servers = sorted(inputs.tools)
    fresh = parallel(servers, lambda s: annotate_server(s, inputs.tools[s], llm, cache, progress))
    try:
        data = (inputs.policy_dir / "tool-annotations.json").read_bytes()
        current = ToolAnnotationsFile.model_validate_json(data)
        old, old_roles = dict(current.servers), dict(current.roles)
    except (OSError, ValueError):
        old, old_roles = {}, {}
    merged = {**old, **fresh}
    changed = changed_tools(old, merged)
    for name, before, after in changed:
        show(name, before, after)
    content = annotations_file(merged, inputs.now(), kept_roles=old_roles)
    if (inputs.policy_dir / "compiled-policy.json").is_file():
        _recheck(inputs, content)
    install_files(inputs.policy_dir, {"tool-annotations.json": content})
    return [name for name, _, _ in changed]


def changed_tools(
    old: Mapping[str, ServerAnnotations], new: Mapping[str, ServerAnnotations]
) -> list[tuple[str, Any, Any]]:
    """``(server/tool, old annotation JSON or None, new annotation JSON or None)``."""

    def tools(entry: ServerAnnotations | None) -> dict[str, Any]:
        items = entry.tools if entry else ()
        return {t.tool_name: t.model_dump(mode="json", by_alias=True) for t in items}

    out = []
    for server in sorted(set(old) | set(new)):
        a, b = tools(old.get(server)), tools(new.get(server))
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.append((f"{server}/{name}", a.get(name), b.get(name)))
    return out


def _recheck(inputs: CompileInputs, annotations: dict[str, Any]) -> None:
    try:
        current = load_policy(inputs.policy_dir)
        lists = {n: DynamicList(values=v) for n, v in current.lists.items()}
        candidate = Policy.build(
            current.rules,
            ToolAnnotationsFile.model_validate(annotations),
            DynamicListsFile(lists=lists),
        )
    except (PolicyError, ValueError) as exc:  # a rule reads a role the new file lacks, …
        raise CompileError(
            "annotate",
            f"the current rules do not load with the new annotations ({exc}); run "
            "compile-policy to rebuild the rules",
        ) from None
    scenarios, context = (), CONTEXT
    path = inputs.policy_dir / "test-scenarios.json"
    if path.is_file():
        loaded = load_scenarios(path)
        scenarios, context = loaded.scenarios, loaded.context
    invariants = load_invariants(inputs.invariants_file)
    failures = verify.find_failures(candidate, scenarios, context, invariants, inputs.protected)
    if failures:
        first = failures[0]
        raise CompileError(
            "annotate",
            f"with the new annotations {first.description!r} expects {first.expected} "
            f"but gets {first.got} ({first.rule}); run compile-policy to rebuild the rules",
        )
