"""``test-scenarios.json``: example calls with the decision the policy must reach, replayed
through the real engine.

IronCurtain's format (``scenarios: [{description, request: {serverName, toolName, arguments},
expectedDecision, reasoning, source}]``, ``expectedDecision`` one of allow, deny, escalate or
``not-allow``: deny or escalate) plus two additions: an optional ``expectedRule``, and a
top-level ``context``: ``home``, ``sandbox``, ``ironcurtainHome`` (the folders the scenarios'
paths assume) and ``sandboxHistory`` (the setting the decisions assume). Replay resolves paths
lexically (no disk), so a scenario means the same on every machine.

Sequences (session-aware policies): a scenario may carry ``task`` (the user's request: its
values become ``task:*`` lists), ``plan`` (a task plan for it: ``policy.task_plan``) and
``steps``, calls made before the one judged, each with the
``result`` text its tool returned and ``approved`` (an escalated step the user approved). A step
that is allowed, or escalated and approved, records its rules' session updates and its result's
pieces (by the tool's result label); a denied or unapproved step changes nothing. Then
``request`` is judged with the state the steps left, as the chokepoint would judge it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import Decision, EvalContext, PolicyLoadError, ToolCall
from policy.paths import lexical
from policy.session_run import SessionRun
from policy.task_plan import check_plan

__all__ = [
    "Scenario",
    "ScenarioFile",
    "ScenarioResult",
    "ScenarioStep",
    "load_scenarios",
    "replay",
    "run_sequence",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", validate_by_name=True)


class ScenarioRequest(_Frozen):
    server_name: str = Field(alias="serverName")
    tool_name: str = Field(alias="toolName")
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class ScenarioStep(_Frozen):
    request: ScenarioRequest
    # the tool's result: its text, or JSON data (a listing's structured content)
    result: str | list[JsonValue] | dict[str, JsonValue] = ""
    approved: bool = False

    def observed(self, run: SessionRun) -> None:
        """Hand the step's result to the session as the chokepoint hands a server's."""
        text, data = result_parts(self.result)
        request = self.request
        run.observe(request.server_name, request.tool_name, text, data, arguments=request.arguments)


def result_parts(result: Any) -> tuple[str, Any]:
    """A recorded result as the chokepoint sees one: text, and structured content if any."""
    if isinstance(result, str):
        return result, None
    return json.dumps(result, ensure_ascii=False), result


class Scenario(_Frozen):
    description: str
    # Left out of a dump when unset: scenario files written before sequences stay as they were.
    task: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # A task plan for the task, as a planner answered it (``{"steps": [{"tool", "quote",
    # "if"}]}``): checked against the task and the policy (policy.task_plan) before it is used
    plan: dict[str, JsonValue] | None = Field(default=None, exclude_if=lambda value: value is None)
    steps: tuple[ScenarioStep, ...] = Field(default=(), exclude_if=lambda value: not value)
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
    sandbox_history: Literal["additive", "escalate", "allow"] = Field(
        default="additive",
        alias="sandboxHistory",
        exclude_if=lambda value: value == "additive",  # the default is not written out
    )
    # the day the sequences' requests were typed: places a date typed without a year
    # (task:dates); unset, the machine's date
    today: date | None = Field(default=None, exclude_if=lambda value: value is None)


class ScenarioFile(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

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
        call = _call(scenario.request)
        if scenario.task is None and not scenario.steps:
            decision = evaluate(call, policy, context)
        else:
            decision = run_sequence(scenario, policy, context, ctx.today).decision
        results.append(ScenarioResult(scenario=scenario, decision=decision))
    return results


def run_sequence(
    scenario: Scenario, policy: Policy, context: EvalContext, today: date | None = None
):
    """The scenario's task and steps through a :class:`SessionRun`, then its request judged."""
    run = SessionRun(policy, today)
    if scenario.task:
        plan = scenario.plan
        steps = check_plan(plan, scenario.task, policy).steps if plan is not None else ()
        run.grant_task(scenario.task, steps)
    for step in scenario.steps:
        judged = run.judge(_call(step.request), context)
        effect = judged.decision.decision
        if effect == "allow" or (effect == "escalate" and step.approved):
            run.went_ahead(judged)
            step.observed(run)
    return run.judge(_call(scenario.request), context)


def _call(request: ScenarioRequest) -> ToolCall:
    return ToolCall(server=request.server_name, tool=request.tool_name, arguments=request.arguments)
