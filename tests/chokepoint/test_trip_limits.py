"""The chokepoint's own share of issue 14: audit before effect for data the log cannot hold,
the approver shown every target and the named scope, and 'similar' one folder deep."""

from __future__ import annotations

import json
import math

import pytest
from chokepoint_helpers import ScriptedHuman, session_for

from appliance.chokepoint.audit import verify_file
from appliance.chokepoint.escalation.models import Verdict
from appliance.config.settings import Config

pytestmark = pytest.mark.anyio


def _records(path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("type") == "call"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"url": "https://github.com/", "timeout": math.nan},
        {"url": "https://github.com/", "timeout": math.inf},
        {"url": "https://github.com/", "timeout": -math.inf},
        {"url": "https://github.com/", "x": {1, 2}},
        {"url": "https://github.com/\ud800"},
        {"url": "https://github.com/", 1: "a key that is not a string"},
    ],
    ids=["nan", "inf", "-inf", "not-json", "lone-surrogate", "mixed-keys"],
)
async def test_arguments_the_audit_cannot_hold_are_refused_and_audited(home, tmp_path, arguments):
    async with session_for(home, tmp_path / "sandbox") as session:
        outcome = await session.chokepoint.call("fetch", "http_fetch", arguments)
        after = await session.chokepoint.call("filesystem", "list_allowed_directories", {})
    assert not outcome.ok and outcome.decision.rule == "invalid-json"
    assert outcome.text.startswith("DENIED: arguments are not plain JSON data")
    assert after.ok  # the session goes on
    records = _records(session.audit_path)
    assert records[0]["rule"] == "invalid-json"
    assert records[0]["arguments"] == {} and records[0]["status"] == "denied"
    assert verify_file(session.audit_path).ok


async def test_deeply_nested_arguments_from_an_in_process_caller_are_refused(home, tmp_path):
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    async with session_for(home, tmp_path / "sandbox") as session:
        outcome = await session.chokepoint.call("filesystem", "read_text_file", {"path": nested})
    assert outcome.decision.rule == "invalid-json" and "nested too deeply" in outcome.text


async def test_approver_is_given_targets_and_the_named_scope_it_approves(home, tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    human = ScriptedHuman(Verdict(approved=True, by="user", scope="similar"))
    config = Config(allowed_directories=(str(outside),), escalation_timeout_seconds=5)
    async with session_for(home, tmp_path / "sandbox", channel=human, config=config) as session:
        first = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "a.txt"), "content": "x" * 5000}
        )
        deeper = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "deep" / "b.txt"), "content": "2"}
        )
    assert first.ok and not deeper.ok  # one folder, not its subtree
    asked = human.asked[0]
    assert asked.targets == {"write-path": [str(outside / "a.txt")]}
    real = str(outside.resolve())
    assert asked.similar == f"filesystem.write_file where write-path directly in folder {real}"
    assert first.escalation["whitelisted"] == asked.similar
    assert len(human.asked) == 2
