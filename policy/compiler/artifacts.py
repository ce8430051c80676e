"""The four files a build writes, as JSON values, and reading back what the user keeps across
builds (their manual list edits). Formats: ``docs/policy-format.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policy.compiler.cache import digest_of
from policy.compiler.scenarios import CONTEXT, InvariantFile
from policy.models import DynamicList, DynamicListsFile, Rule, ServerAnnotations
from policy.scenarios import Scenario

__all__ = ["annotations_file", "old_lists", "policy_files"]


def annotations_file(by_server: Mapping[str, ServerAnnotations], now: str) -> dict[str, Any]:
    servers = {
        s: a.model_dump(mode="json", by_alias=True, exclude_none=True) for s, a in by_server.items()
    }
    return {"generatedAt": now, "servers": dict(sorted(servers.items()))}


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
            "constitutionHash": digest_of(constitution),
            "rules": dumped_rules,
        },
        "tool-annotations.json": annotations_file(annotations, now),
        "dynamic-lists.json": {"generatedAt": now, "lists": dumped_lists},
        "test-scenarios.json": _scenario_file(scenarios, invariants),
    }


def _scenario_file(scenarios: Sequence[Scenario], invariants: InvariantFile) -> dict[str, Any]:
    """The LLM's scenarios plus every exact invariant, so ``policy test`` replays both (an
    invariant that only forbids a decision has no place in this format and stays in its file)."""
    items = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in scenarios]
    if invariants.context == CONTEXT:
        for inv in invariants.invariants:
            if inv.expected_decision is None:
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
