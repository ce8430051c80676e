"""Redaction: vectors as data, deep copies, and linear time on adversarial input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.chokepoint.redact import redact, redact_text

VECTORS = Path(__file__).parents[1] / "vectors" / "redaction"


def _cases(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", _cases("positives.json"), ids=lambda c: c["description"])
def test_positive_vectors_are_masked(case: dict) -> None:
    assert redact_text(case["input"]) == case["expected"]


@pytest.mark.parametrize("case", _cases("negatives.json"), ids=lambda c: c["description"])
def test_near_misses_stay(case: dict) -> None:
    assert case["input"] == case["expected"]
    assert redact_text(case["input"]) == case["input"]


def test_redact_is_a_deep_copy_of_json_like_data() -> None:
    original = {
        "path": "/tmp/notes.txt",
        "content": "card 4111111111111111",
        "headers": [{"Authorization": "Bearer abcdefghijklmnop1234"}],
        "nested": {"n": 3, "ok": True, "none": None, "ratio": 0.5},
        "pair": ("AKIAIOSFODNN7EXAMPLE", 1),
    }
    snapshot = json.dumps(original, default=list)
    out = redact(original)
    assert json.dumps(original, default=list) == snapshot  # input untouched
    assert out["content"] == "card [REDACTED:card-number]"
    assert out["headers"][0]["Authorization"] == "Bearer [REDACTED:bearer-token]"
    assert out["nested"] == {"n": 3, "ok": True, "none": None, "ratio": 0.5}
    assert out["pair"] == ("[REDACTED:aws-access-key-id]", 1)
    assert out["headers"] is not original["headers"]


def test_secret_named_keys_mask_their_value_and_keys_are_redacted() -> None:
    out = redact(
        {"AWS_SECRET_ACCESS_KEY": "short-but-secret", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv": 1}
    )
    assert out == {
        "AWS_SECRET_ACCESS_KEY": "[REDACTED:aws-secret-key]",
        "[REDACTED:anthropic-key]": 1,
    }


def test_absurdly_deep_data_is_masked_not_recursed() -> None:
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    out = redact(deep)
    depth = 0
    while isinstance(out, list):
        out = out[0]
        depth += 1
    assert out == "[REDACTED:too-deep]"
    assert depth == 200


ADVERSARIAL = {
    "digits": "4" * 1_000_000,
    "card groups": "4111 " * 200_000,
    "dash digits": "1-" * 500_000,
    "ssn prefix": "123-45-" * 142_858,
    "sk prefixes": "sk-" * 333_334,
    "sk-ant body": "sk-ant-" + "a" * 1_000_000,
    "key chars": "a_" * 500_000,
    "aws secret names": "aws_secret_access_key= " * 43_479,
    "bearer words": "bearer " * 142_858,
    "akia": "AKIA" * 250_000,
    "github prefixes": "ghp_" * 250_000,
    "github pat prefix": "github_pat_" * 90_910,
    "aiza": "AIza" * 250_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_one_megabyte_adversarial_input_is_linear(name: str) -> None:
    # The prefix holds every pattern's cheap pre-check substring, so every pattern really runs.
    text = "sk-ant- AIza gh github_pat_ aws_secret_access_key bearer 1 " + ADVERSARIAL[name]
    assert len(text) >= 999_000
    # CPU time, not wall time: the property is the algorithm's cost, and the test machines are
    # shared, so a wall clock would measure the neighbours too.
    started = time.process_time()
    redact_text(text)
    assert time.process_time() - started < 1.0


def _with_luhn_digit(body: str) -> str:
    for check in "0123456789":
        candidate = body + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable: one check digit always fits")


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    prefix=_TEXT,
    suffix=_TEXT,
    body=st.text(alphabet="0123456789", min_size=15, max_size=15),
    layout=st.sampled_from(["plain", "4444 ", "4444-"]),
)
def test_any_luhn_valid_card_in_any_text_is_masked(prefix, suffix, body, layout) -> None:
    card = _with_luhn_digit(body)
    if layout != "plain":
        sep = layout[-1]
        card = sep.join(card[i : i + 4] for i in range(0, 16, 4))
    out = redact_text(f"{prefix} {card} {suffix}")
    assert card not in out and "[REDACTED:card-number]" in out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -skantpojAIzaKSghu_Bearer:"), max_size=120))
def test_redaction_is_idempotent_on_secret_like_noise(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once
