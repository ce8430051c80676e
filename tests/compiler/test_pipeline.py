"""The compiler end to end against the scripted LLM (litellm's real client, loopback HTTP)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from appliance.agent.scripted_llm import ScriptedLLM
from policy.compiler.annotate import ToolSpec
from policy.compiler.errors import CompileError
from policy.compiler.pipeline import compile_policy
from policy.loader import load_policy
from tests.compiler.support import (
    client,
    inputs,
    recorded,
    request_key,
    snapshot,
    tool_specs,
)

GOLDEN = Path(__file__).parent / "golden"
FILES = (
    "compiled-policy.json",
    "tool-annotations.json",
    "dynamic-lists.json",
    "test-scenarios.json",
)


def run(llm, tmp_path, overrides=None, tools=None, timeout=10.0, **kwargs):
    llm.overrides.clear()
    llm.overrides.update(overrides or {})
    llm.requests.clear()
    lines: list[str] = []
    options = inputs(tmp_path, tools)
    report = compile_policy(options, client(llm.openai_base, timeout), lines.append, **kwargs)
    return report, llm, lines


def keys(llm: ScriptedLLM) -> list[str]:
    return sorted(request_key(body["messages"]) for body in llm.requests)


def test_compiles_the_recorded_answers_into_the_golden_policy(script, tmp_path):
    report, llm, lines = run(script, tmp_path)
    out = tmp_path / "generated"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        for name in FILES:
            (GOLDEN / name).write_bytes((out / name).read_bytes())
    for name in FILES:
        assert json.loads((out / name).read_text()) == json.loads((GOLDEN / name).read_text()), name
    assert len(llm.requests) == 7  # 2 servers x 3 stages + 1 list
    assert report.rules == 5 and report.rounds == 0
    assert any(line.startswith("verify") for line in lines)
    policy = load_policy(out)
    assert policy.lists["news-sites"][:2] == ("bbc.com", "*.bbc.com")


def test_a_second_run_asks_nothing_and_one_changed_server_recompiles_alone(script, tmp_path):
    run(script, tmp_path)
    _, again, lines = run(script, tmp_path)
    assert again.requests == []
    assert all("cached" in line for line in lines if not line.startswith("verify"))
    tools = tool_specs()
    fetch = tools["fetch"][0]
    tools["fetch"] = [
        ToolSpec(name=fetch.name, description="Fetch a web page", input_schema=fetch.input_schema)
    ]
    _, described, _ = run(script, tmp_path, tools=tools)
    assert keys(described) == ["annotate-fetch"]  # same roles: the rules still hold
    tools["fetch"] = [
        ToolSpec(name=fetch.name, description="Fetch", input_schema=fetch.input_schema)
    ]
    answer = recorded("annotate-fetch.json")
    answer["tools"][0]["comment"] = "Fetches a page (any site)"
    _, changed, _ = run(script, tmp_path, {"annotate-fetch": answer}, tools=tools)
    assert keys(changed) == ["annotate-fetch", "rules-fetch", "scenarios-fetch"]


def _previous(script, tmp_path):
    run(script, tmp_path)
    return snapshot(tmp_path / "generated")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"rules-fetch": "Sure! Here are the rules you asked for."},
            "rules (fetch): the LLM's answer is not JSON",
        ),
        (
            {
                "annotate-fetch": {
                    "tools": [
                        {
                            "toolName": "http_fetch",
                            "serverName": "fetch",
                            "args": {"url": ["fetch-url"]},
                        }
                    ]
                }
            },
            "argument 'max_length' has no roles",
        ),
        (
            {
                "rules-filesystem": {
                    "rules": [
                        {
                            "name": "x",
                            "if": {"server": ["filesystem"], "tool": ["delete_everything"]},
                            "then": "allow",
                            "reason": "r",
                        }
                    ]
                }
            },
            "names tool 'delete_everything', which filesystem does not have",
        ),
        (
            {
                "rules-fetch": {
                    "rules": [
                        {"name": "x", "if": {"server": ["fetch"]}, "then": "allow", "reason": "r"}
                    ]
                }
            },
            "has an empty condition",
        ),
        (
            {
                "rules-fetch": {
                    "rules": [
                        {
                            "name": "x",
                            "if": {"roles": ["fetch-url"]},
                            "then": "allow",
                            "reason": "r",
                        }
                    ]
                }
            },
            "must name its server",
        ),
        ({"lists-news-sites": {"values": ["https://bbc.com/"]}}, "is not a valid domains entry"),
    ],
    ids=[
        "not-json",
        "unannotated-argument",
        "unknown-tool",
        "empty-condition",
        "no-server",
        "bad-list-value",
    ],
)
def test_a_bad_answer_is_a_clear_error_and_the_previous_policy_stays(
    script, tmp_path, override, message
):
    before = _previous(script, tmp_path)
    shutil.rmtree(tmp_path / "cache")  # ask again, so the bad answer is what comes back
    with pytest.raises(CompileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(script, tmp_path, override)
    assert snapshot(tmp_path / "generated") == before


def test_a_timeout_is_a_clear_error_and_the_previous_policy_stays(script, tmp_path):
    before = _previous(script, tmp_path)
    shutil.rmtree(tmp_path / "cache")

    def slow(messages):
        time.sleep(2.0)
        return recorded("rules-fetch.json")

    started = time.monotonic()
    with pytest.raises(CompileError, match="timed out"):
        run(script, tmp_path, {"rules-fetch": slow}, timeout=0.5)
    assert time.monotonic() - started < 10
    assert snapshot(tmp_path / "generated") == before


def test_manual_list_edits_survive_and_refresh_asks_again(script, tmp_path):
    run(script, tmp_path)
    path = tmp_path / "generated" / "dynamic-lists.json"
    data = json.loads(path.read_text())
    data["lists"]["news-sites"]["manualAdditions"] = ["lwn.net"]
    data["lists"]["news-sites"]["manualRemovals"] = ["reuters.com"]
    path.write_text(json.dumps(data))
    fresh = {"lists-news-sites": {"values": ["*.bbc.com", "reuters.com", "apnews.com"]}}
    _, llm, _ = run(script, tmp_path, fresh, refresh_lists=["news-sites"])
    assert keys(llm) == ["lists-news-sites"]
    policy = load_policy(tmp_path / "generated")
    assert policy.lists["news-sites"] == ("*.bbc.com", "apnews.com", "lwn.net")


def test_refreshing_a_list_no_rule_names_is_an_error(script, tmp_path):
    with pytest.raises(CompileError, match="no rule refers to @weather-sites"):
        run(script, tmp_path, refresh_lists=["weather-sites"])
    assert not (tmp_path / "generated").exists()
