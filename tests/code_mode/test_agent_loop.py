"""The agent loop against a scripted model over real HTTP (litellm's own client)."""

from __future__ import annotations

import json

import pytest

from appliance.agent.loop import Agent, ModelSettings, litellm_model, system_prompt, truncate
from appliance.agent.scripted_llm import ScriptedLLM
from appliance.session.budget import Budget, ResourceBudget

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self, answers=None):
        self.codes: list[str] = []
        self.answers = answers

    async def __call__(self, code: str) -> str:
        self.codes.append(code)
        return self.answers(code) if self.answers else f"ran {len(code)} chars"


def _agent(llm, execute, limits=None, provider="openai", history=None, report=None):
    if provider == "openai":
        model = ModelSettings("openai:scripted", api_key="sk-test", api_base=llm.openai_base)
    else:
        model = ModelSettings(
            "anthropic:claude-sonnet-4-6", api_key="sk-ant-test", api_base=llm.anthropic_base
        )
    return Agent(
        model=model,
        execute=execute,
        budget=Budget(limits or ResourceBudget()),
        system="system prompt",
        history_path=history,
        report=report or (lambda kind, text: None),
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_tool_call_round_trip_and_final_answer(provider):
    steps = [{"code": "print(1)"}, {"text": "all done"}]
    execute = Recorder()
    with ScriptedLLM(steps) as llm:
        agent = _agent(llm, execute, provider=provider)
        answer = await agent.send("do it")
        second_request = llm.requests[1]
    assert answer == "all done"
    assert execute.codes == ["print(1)"]
    assert agent.budget.steps == 2 and agent.budget.tokens == 320
    # The tool result went back to the model in the provider's own format.
    assert "ran 8 chars" in json.dumps(second_request)


async def test_step_budget_stops_the_turn():
    steps = [{"code": f"x = {i}"} for i in range(10)]
    reports = []
    with ScriptedLLM(steps) as llm:
        agent = _agent(
            llm,
            Recorder(),
            limits=ResourceBudget(max_steps=5),
            report=lambda kind, text: reports.append((kind, text)),
        )
        answer = await agent.send("loop forever")
    assert answer.startswith("Stopped: the steps budget is used up (5 of 5)")
    warnings = [text for kind, text in reports if kind == "budget" and "80 %" in text]
    assert warnings == ["steps budget at 4 of 5 (80 % reached)"]


async def test_token_budget_is_checked_before_each_execution():
    steps = [{"code": "a"}, {"code": "b"}]
    execute = Recorder()
    with ScriptedLLM(steps) as llm:
        agent = _agent(llm, execute, limits=ResourceBudget(max_total_tokens=100))
        answer = await agent.send("go")
    assert execute.codes == []  # the first reply alone used 160 tokens
    assert "tokens budget is used up" in answer


async def test_loop_detector_stops_identical_code_with_identical_outcome():
    steps = [{"code": "same()"}] * 6
    execute = Recorder()
    with ScriptedLLM(steps) as llm:
        answer = await _agent(llm, execute).send("go")
    assert answer == "Stopped: the agent repeated the same code with the same outcome."
    assert len(execute.codes) == 3


async def test_unknown_tool_and_bad_arguments_are_reported_to_the_model():
    steps = [
        {"tool": "shell", "arguments": {"cmd": "rm -rf /"}},
        {"tool": "execute_code", "arguments": {"code": 5}},
        {"text": "ok"},
    ]
    execute = Recorder()
    with ScriptedLLM(steps) as llm:
        await _agent(llm, execute).send("go")
        third = json.dumps(llm.requests[2])
    assert execute.codes == []
    assert "unknown tool 'shell'" in third
    assert "needs a string argument" in third


async def test_history_is_saved_and_resumed(tmp_path):
    history = tmp_path / "history.json"
    with ScriptedLLM([{"text": "first"}, {"text": "second"}]) as llm:
        await _agent(llm, Recorder(), history=history).send("one")
        resumed = _agent(llm, Recorder(), history=history)
        await resumed.send("two")
        last_request = llm.requests[-1]
    contents = [m.get("content") for m in last_request["messages"]]
    assert "one" in contents and "first" in contents and "two" in contents


def test_truncation_keeps_head_and_tail():
    text = "A" * 80_000 + "B" * 80_000
    cut = truncate(text, cap=100_000)
    assert cut.startswith("A" * 1000) and cut.endswith("B" * 1000)
    assert "bytes cut" in cut and len(cut.encode()) < 100_200
    assert truncate("short") == "short"


def test_model_ids_and_prompt():
    assert litellm_model("anthropic:claude-sonnet-4-6") == "anthropic/claude-sonnet-4-6"
    with pytest.raises(ValueError, match="provider:model"):
        litellm_model("claude")
    prompt = system_prompt(
        [{"server": "git", "name": "git_status", "description": "Status.\nMore", "required": []}],
        "/work/sb",
    )
    assert "git.git_status(): Status." in prompt and "/work/sb" in prompt
    assert "Never retry a denied call" in prompt
