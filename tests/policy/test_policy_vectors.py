"""Adversarial vectors (tests/vectors/policy/*.json) replayed against real files on disk.

Each case may create folders, files and symlinks under a fresh temporary root (``$ROOT``), then
asks the shipped default policy, with the real on-disk resolver, about one call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_factories import (
    load_vector_file,
    materialize,
    shipped_policy,
    substitute,
    vector_files,
)

from policy.engine import evaluate
from policy.models import EvalContext, ToolCall
from policy.paths import resolve_on_disk

CASES = [
    pytest.param(path, index, id=f"{path.stem}-{index}-{case['description'][:50]}")
    for path in vector_files()
    for index, case in enumerate(load_vector_file(path)["cases"])
]


def test_every_vector_file_is_well_formed() -> None:
    files = vector_files()
    assert {f.name for f in files} >= {"paths.json", "urls.json", "arguments.json", "git.json"}
    for path in files:
        data = load_vector_file(path)
        assert data["description"] and data["cases"], path
        for case in data["cases"]:
            assert set(case) <= {"description", "call", "expect", "setup"}, case
            assert case["expect"]["decision"] in ("allow", "deny", "escalate"), case
            assert case["expect"]["rule"], case


@pytest.mark.parametrize(("path", "index"), CASES)
def test_vector(path: Path, index: int, tmp_path: Path) -> None:
    data = load_vector_file(path)
    case = data["cases"][index]
    root = str(tmp_path)
    materialize(tmp_path, data.get("base", {}), case.get("setup", {}))
    ctx = substitute(data["context"], root)
    context = EvalContext(
        sandbox=ctx["sandbox"],
        home=ctx["home"],
        protected_patterns=tuple(ctx["protected"]),
        resolve_path=resolve_on_disk,
    )
    call = substitute(case["call"], root)
    decision = evaluate(ToolCall(**call), shipped_policy(), context)
    got = {"decision": decision.decision, "rule": decision.rule}
    assert got == case["expect"], f"{case['description']}: {decision.reason}"
