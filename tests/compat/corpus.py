"""The IronCurtain compatibility corpus (``tests/vectors/ironcurtain/``), read for the tests and
for ``tests/bench/bench_ironcurtain.py`` alike.

- ``shapes.json``: IronCurtain's released file shapes re-created as data, one policy file per
  case; each is loaded through the real loader in a folder completed with minimal files.
- ``decisions.json``: calls against the IronCurtain-format policy in ``policy/``, each with this
  engine's expected decision and rule, the decision IronCurtain's documented semantics give, and
  the reason when the two differ on purpose.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config.paths import AppPaths
from policy.engine import evaluate
from policy.loader import Policy, load_policy
from policy.models import Decision, EvalContext, PolicyError, ToolCall
from policy.paths import lexical
from policy.scenarios import load_scenarios

__all__ = ["CORPUS", "Replayed", "context_for", "decisions", "load_shape", "replay_decisions"]

CORPUS = Path(__file__).resolve().parents[1] / "vectors" / "ironcurtain"
_MINIMAL = {
    "compiled-policy.json": {"rules": []},
    "tool-annotations.json": {"servers": {}},
}


def shapes() -> list[dict[str, Any]]:
    return json.loads((CORPUS / "shapes.json").read_text())["cases"]


def decisions() -> dict[str, Any]:
    return json.loads((CORPUS / "decisions.json").read_text())


def load_shape(case: dict[str, Any]) -> None:
    """Load one shape case with the real loaders; raises ``PolicyError`` if it does not load."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / case["file"]
        path.write_text(json.dumps(case["content"]))
        if case["file"] == "test-scenarios.json":
            load_scenarios(path)
            return
        for name, content in _MINIMAL.items():
            if name != case["file"]:
                (Path(folder) / name).write_text(json.dumps(content))
        load_policy(folder)


def context_for(data: dict[str, Any], case: dict[str, Any]) -> EvalContext:
    ctx = data["context"]
    home = Path(ctx["ironcurtainHome"])
    return EvalContext(
        sandbox=ctx["sandbox"],
        home=ctx["home"],
        protected_patterns=AppPaths(home=home, cache=home / "cache").protected_patterns(),
        resolve_path=lexical,
        # The corpus's folders do not exist here: no disk probing (a '.git' name still counts,
        # in the engine), so a case means the same on every machine, as scenario replay does.
        git_dir_probe=_no_disk,
        sandbox_history=case.get("context", {}).get("sandboxHistory", "additive"),
    )


def _no_disk(path: str, stop: str) -> None:
    return None


@dataclass(frozen=True)
class Replayed:
    case: dict[str, Any]
    decision: Decision
    call: ToolCall
    context: EvalContext

    @property
    def same_as_ironcurtain(self) -> bool:
        return self.decision.decision == self.case["ironcurtain"]


def replay_decisions() -> tuple[Policy, list[Replayed]]:
    data = decisions()
    policy = load_policy(CORPUS.parents[2] / data["policy"])
    out = []
    for case in data["cases"]:
        call, context = ToolCall(**case["call"]), context_for(data, case)
        out.append(Replayed(case, evaluate(call, policy, context), call, context))
    return policy, out


def loads(case: dict[str, Any]) -> bool:
    try:
        load_shape(case)
    except PolicyError:
        return False
    return True
