"""Each provider route through litellm's normal client against the scripted server, and what the
user reads when the model cannot be reached: one sentence, the conversation kept for /retry."""

from __future__ import annotations

import json
import socket
import time

import pytest

from appliance.agent.loop import Agent, ModelError, ModelSettings
from appliance.agent.scripted_llm import ScriptedLLM
from appliance.config.settings import Config
from appliance.session.budget import Budget, ResourceBudget

pytestmark = pytest.mark.anyio

ROUTES = {
    "anthropic": ("anthropic:claude-sonnet-4-6", "anthropicBaseUrl", "anthropic_base"),
    "openai": ("openai:gpt-5", "openaiBaseUrl", "openai_base"),
    "google": ("google:gemini-2.5-flash", "googleBaseUrl", "google_base"),
}


async def _echo(code: str) -> str:
    return f"ran: {code}"


def _agent(model: ModelSettings) -> Agent:
    return Agent(model=model, execute=_echo, budget=Budget(ResourceBudget()), system="system")


@pytest.mark.parametrize("provider", sorted(ROUTES))
async def test_each_provider_route_reaches_its_base_url(provider):
    model_id, setting, attribute = ROUTES[provider]
    with ScriptedLLM([{"code": "print(2)"}, {"text": f"done via {provider}"}]) as llm:
        config = Config.model_validate(
            {
                "agentModelId": model_id,
                f"{provider}ApiKey": "k-test-0123",
                setting: getattr(llm, attribute),
            }
        )
        settings = ModelSettings.for_model(config, model_id)
        agent = _agent(settings)
        answer = await agent.send("go")
        routes, second = list(llm.routes), json.dumps(llm.requests[1])
    assert answer == f"done via {provider}"
    assert routes == [{"google": "gemini"}.get(provider, provider)] * 2
    assert "ran: print(2)" in second  # the tool result went back in the provider's shape
    assert agent.budget.tokens == 320


def test_a_base_url_applies_to_its_own_provider_only():
    config = Config.model_validate(
        {"anthropicBaseUrl": "http://127.0.0.1:9/a", "googleBaseUrl": "http://127.0.0.1:9/g"}
    )
    assert ModelSettings.for_model(config, "anthropic:x").api_base == "http://127.0.0.1:9/a"
    assert ModelSettings.for_model(config, "google:x").api_base == "http://127.0.0.1:9/g"
    assert ModelSettings.for_model(config, "openai:x").api_base is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "refused the API key (401). Check ANTHROPIC_API_KEY"),
        (500, "failed on its side (500)"),
        (404, "does not know model anthropic:claude-sonnet-4-6 (404)"),
    ],
)
async def test_http_errors_become_one_sentence_and_the_turn_can_be_retried(status, expected):
    with ScriptedLLM([{"status": status}, {"text": "back again"}]) as llm:
        agent = _agent(
            ModelSettings(ROUTES["anthropic"][0], api_key="sk-ant-x", api_base=llm.anthropic_base)
        )
        with pytest.raises(ModelError) as caught:
            await agent.send("hello")
        message = str(caught.value)
        assert expected in message and llm.anthropic_base in message
        assert "\n" not in message and "Traceback" not in message
        assert agent.messages[-1] == {"role": "user", "content": "hello"}  # kept for /retry
        assert len(llm.requests) == 1  # no hidden retries behind the user's back
        assert await agent.resume() == "back again"


async def test_nothing_listening_is_named_with_the_setting_to_check():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing answers
    base = f"http://127.0.0.1:{port}/v1"
    agent = _agent(ModelSettings("openai:gpt-5", api_key="sk-x", api_base=base))
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        await agent.send("hello")
    assert str(caught.value).startswith(f"cannot reach {base}: nothing answered")
    assert "openaiBaseUrl" in str(caught.value)
    assert time.monotonic() - started < 30


def test_dns_failure_names_the_host():
    from appliance.agent.model_errors import describe_model_error

    class APIConnectionError(Exception):
        pass

    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as inner:
            raise APIConnectionError("Connection error.") from inner
    except APIConnectionError as exc:
        text = describe_model_error(exc, "google:gemini-2.5-pro", "https://gw.example.test/v1beta")
    assert text == (
        "cannot resolve gw.example.test (DNS failure): check the network or googleBaseUrl."
    )


def test_a_model_error_never_shows_the_key():
    from appliance.agent.model_errors import describe_model_error

    class BadRequestError(Exception):
        status_code = 400

    text = describe_model_error(BadRequestError("bad tools field"), "openai:gpt-5", None)
    assert text == "the openai API refused the request (400): bad tools field"
