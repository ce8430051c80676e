"""``test-scenarios.json``: example calls with the decision the policy must reach, replayed
through the real engine.

IronCurtain's format (``scenarios: [{description, request: {serverName, toolName, arguments},
expectedDecision, reasoning, source}]``, ``expectedDecision`` one of allow, deny, escalate or
``not-allow``: deny or escalate) plus two additions: an optional ``expectedRule``, and a
top-level ``context``: ``home``, ``sandbox``, ``ironcurtainHome`` (the folders the scenarios'
paths assume) and ``sandboxHistory`` (the setting the decisions assume). Replay resolves paths
lexically (no disk), so a scenario means the same on every machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import Decision, EvalContext, PolicyLoadError, ToolCall
from policy.paths import lexical

__all__ = ["Scenario", "ScenarioFile", "ScenarioResult", "load_scenarios", "replay"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)


class ScenarioRequest(_Frozen):
    server_name: str = Field(alias="serverName")
    tool_name: str = Field(alias="toolName")
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class Scenario(_Frozen):
    description: str
    request: ScenarioRequest
    # IronCurtain's "not-allow": deny or escalate, either passes (v0.3.1 on)
    expected_decision: Literal["allow", "deny", "escalate", "not-allow"] = Field(
        alias="expectedDecision"
    )
    expected_rule: str | None = Field(default=None, alias="expectedRule")
    reasoning: str = ""
    source: str = "handwritten"


class ScenarioContext(_Frozen):
    home: str = "/home/user"
    sandbox: str | None = None
    ironcurtain_home: str = Field(default="/home/user/.ironcurtain", alias="ironcurtainHome")
    # the config's sandboxHistory the scenarios assume ("allow": IronCurtain's decisions)
    sandbox_history: Literal["escalate", "allow"] = Field(
        default="escalate",
        alias="sandboxHistory",
        exclude_if=lambda value: value == "escalate",  # files written before it stay as they are
    )


class ScenarioFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    context: ScenarioContext = Field(default_factory=ScenarioContext)
    scenarios: tuple[Scenario, ...]


class ScenarioResult(_Frozen):
    scenario: Scenario
    decision: Decision

    @property
    def passed(self) -> bool:
        expected = self.scenario
        rule_ok = expected.expected_rule is None or expected.expected_rule == self.decision.rule
        want, got = expected.expected_decision, self.decision.decision
        decision_ok = got != "allow" if want == "not-allow" else want == got
        return decision_ok and rule_ok


def load_scenarios(path: str | Path) -> ScenarioFile:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return ScenarioFile.model_validate(data)
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyLoadError(str(path), "$", None, f"a readable JSON file ({exc})") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        raise PolicyLoadError(str(path), where, error.get("input"), error["msg"]) from None


def replay(
    scenarios: ScenarioFile,
    policy: Policy,
    protected_patterns: Callable[[str], tuple[str, ...]],
) -> list[ScenarioResult]:
    """Run every scenario; ``protected_patterns(ironcurtain_home)`` gives the protected set."""
    ctx = scenarios.context
    context = EvalContext(
        sandbox=ctx.sandbox,
        protected_patterns=protected_patterns(ctx.ironcurtain_home),
        home=ctx.home,
        resolve_path=lexical,
        sandbox_history=ctx.sandbox_history,
    )
    results = []
    for scenario in scenarios.scenarios:
        request = scenario.request
        call = ToolCall(
            server=request.server_name, tool=request.tool_name, arguments=request.arguments
        )
        results.append(ScenarioResult(scenario=scenario, decision=evaluate(call, policy, context)))
    return results
