"""The digest an approval is bound to, and the one encoding on a call's path that also tells the
arguments are plain JSON data (the audit log can hold them)."""

from __future__ import annotations

import math

import pytest

from appliance.chokepoint.audit import json_problem
from appliance.chokepoint.escalation.models import call_digest, plain_call_digest

POLICY = "p" * 64


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"path": "/tmp/sandbox/f1.txt"},
        {"content": 'é ✓ \u2028 \x00 "quoted"', "n": 3, "x": 1.5, "ok": True, "none": None},
        {"b": [1, {"z": 2, "a": [3]}], "a": {"nested": {"deep": ["x"] * 5}}},
        {"1": "a string key that looks like a number", "tags": []},
    ],
    ids=["empty", "path", "text", "nested", "keys"],
)
def test_plain_arguments_get_the_same_digest_either_way(arguments):
    assert json_problem(arguments) is None
    assert plain_call_digest("fs", "read", arguments, POLICY) == call_digest(
        "fs", "read", arguments, POLICY
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": -math.inf},
        {"x": {1, 2}},
        {"url": "https://example.com/\ud800"},
        {"\udfff": "a lone surrogate in a key"},
    ],
    ids=["nan", "inf", "-inf", "set", "lone-surrogate", "surrogate-key"],
)
def test_arguments_the_audit_cannot_hold_have_no_plain_digest(arguments):
    assert json_problem(arguments) is not None  # the chokepoint then asks why, and refuses
    assert plain_call_digest("fs", "read", arguments, POLICY) is None


def test_too_deep_arguments_have_no_plain_digest():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert plain_call_digest("fs", "read", {"path": nested}, POLICY) is None


def test_keys_that_cannot_be_sorted_fall_back_to_the_old_checks():
    # json_problem accepts mixed key types (JSON writes them as strings); the canonical
    # encoding sorts keys and cannot: no plain digest, so the chokepoint takes the slow path.
    mixed = {1: "a", "b": 2}
    assert json_problem(mixed) is None
    assert plain_call_digest("fs", "read", mixed, POLICY) is None
