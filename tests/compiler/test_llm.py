"""The compiler's LLM client through litellm's real client against the scripted server."""

from __future__ import annotations

import json

import litellm
import pytest

from policy.compiler.errors import CompileError
from policy.compiler.llm import LiteLLM, ask_json
from policy.compiler.verify import Proposal


def test_usage_and_cost_are_summed_with_litellms_prices(script):
    llm = LiteLLM("openai:gpt-4o", api_key="sk-test", base_url=script.openai_base)
    fenced = "```json\n" + json.dumps({"description": "d", "expectedDecision": "deny"}) + "\n```"
    script.overrides["scenarios-?"] = fenced
    proposal = ask_json(llm, "system text", "no server here", Proposal, "verify")
    assert proposal.expected_decision == "deny"
    price = litellm.model_cost["gpt-4o"]
    expected = 120 * price["input_cost_per_token"] + 40 * price["output_cost_per_token"]
    assert llm.usage.calls == 1 and llm.usage.prompt_tokens == 120
    assert llm.usage.cost_usd == pytest.approx(expected) and expected > 0
    body = script.requests[0]
    assert body["messages"][0] == {"role": "system", "content": "system text"}
    assert body["temperature"] == 0


def test_an_unknown_model_costs_zero(script):
    script.overrides["scenarios-?"] = "{}"
    llm = LiteLLM("openai:scripted-model-nobody-prices", api_key="k", base_url=script.openai_base)
    llm.complete("s", "p")
    assert llm.usage.calls == 1 and llm.usage.cost_usd == 0.0


def test_an_unreachable_model_is_a_compile_error(script):
    llm = LiteLLM("openai:x", api_key="k", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(CompileError, match=r"^llm: request to openai/x failed: "):
        llm.complete("s", "p")


def test_a_bad_model_id_is_refused():
    with pytest.raises(CompileError, match="must look like provider:model"):
        LiteLLM("gpt-4o")
