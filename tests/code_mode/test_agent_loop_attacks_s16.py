"""The model's tool call arguments are untrusted JSON text: the agent loop parses them with
limits and answers a refusal to the model instead of crashing the session.

Found by a red team: ``arguments`` nested 100,000 deep raised RecursionError out of
``json.loads`` and a lone surrogate in the code raised UnicodeEncodeError in the loop check;
either ended the session with a traceback.
"""

from __future__ import annotations

import pytest

from appliance.agent.loop import Agent, ModelSettings
from appliance.agent.model_worker import Completion
from appliance.session.budget import Budget, ResourceBudget

pytestmark = pytest.mark.anyio


class ScriptedClient:
    """A ModelClient that answers from a list of assistant messages."""

    def __init__(self, messages: list[dict]) -> None:
        self.messages = list(messages)

    async def complete(self, request, model_id, api_base) -> Completion:
        return Completion(self.messages.pop(0), 1, 0.0)


def _agent(execute, client: ScriptedClient) -> Agent:
    return Agent(
        model=ModelSettings("openai:scripted", api_key="sk-test"),
        execute=execute,
        budget=Budget(ResourceBudget()),
        system="system prompt",
        client=client,
    )


def _call(arguments: str, call_id: str = "c1") -> dict:
    function = {"name": "execute_code", "arguments": arguments}
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": function}]}  # fmt: skip


HOSTILE_ARGUMENTS = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep_inside": '{"code": "1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "lone_surrogate": '{"code": "print(1) # \ud800"}',
    "escaped_surrogate": '{"code": "print(1) # \\udc00"}',
    "nan": '{"code": "1", "x": NaN}',
    "huge": '{"code": "' + "x" * (8 * 1024 * 1024) + '"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ARGUMENTS))
async def test_hostile_arguments_are_refused_to_the_model_not_crashed_on(name):
    ran: list[str] = []

    async def execute(code: str) -> str:
        ran.append(code)
        return "ran"

    client = ScriptedClient(
        [_call(HOSTILE_ARGUMENTS[name]), {"role": "assistant", "content": "gave up"}]
    )
    agent = _agent(execute, client)
    assert await agent.send("go") == "gave up"
    answer = agent.messages[-2]
    assert answer["role"] == "tool" and answer["content"].startswith("ERROR: ")
    assert ran == []


async def test_three_identical_surrogate_calls_still_stop_as_a_loop():
    arguments = '{"code": "print(1) # \ud800"}'
    client = ScriptedClient([_call(arguments, f"c{i}") for i in range(3)])

    async def execute(code: str) -> str:
        return "ran"

    agent = _agent(execute, client)
    assert "repeated the same code" in await agent.send("go")
