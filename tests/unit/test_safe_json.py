"""policy.safe_json: the one parser every entry point uses (issue 14)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.safe_json import MAX_VALUES, JSONRefused, loads, nesting_depth, value_count

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"a":' * 65 + "1" + "}" * 65, "nested too deeply"),
        ("[" * 1_000_000, "nested too deeply"),
        ('{"t": NaN}', "NaN is not a JSON number"),
        ('{"t": Infinity}', "Infinity is not a JSON number"),
        ('{"t": -Infinity}', "-Infinity is not a JSON number"),
        ('{"t": 1e999}', "out of range"),
        ('{"t": -1e999}', "out of range"),
        ('{"t": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"p": "a", "p": "b"}', "appears twice"),
        ('{"p": "\\ud800"}', "lone surrogate"),
        ('{"p": "\\udfff\\ud800"}', "lone surrogate"),
        ('{"p": "\ud800"}', "lone surrogate"),
        ('{"' + "k" * (2 * MiB) + '": 1}', "too large"),
        ("{bad", "not valid JSON"),
    ],
)
def test_refusals_name_the_rule(text: str, message: str) -> None:
    with pytest.raises(JSONRefused, match=message):
        loads(text, max_bytes=MiB)


def test_invalid_utf8_bytes_are_refused() -> None:
    with pytest.raises(JSONRefused, match="not valid UTF-8"):
        loads(b'{"a": "\xff"}', max_bytes=MiB)


def test_size_is_counted_in_utf8_bytes() -> None:
    text = json.dumps({"a": "é" * 600}, ensure_ascii=False)  # 1200+ bytes, 600+ characters
    with pytest.raises(JSONRefused, match="too large"):
        loads(text, max_bytes=1000)


def test_brackets_inside_strings_do_not_count_and_good_json_passes() -> None:
    value = {"a": "[[[[{{{{" * 1000, "b": [[1, 2.5], {"c": '\\"]'}], "d": "\U0001f600"}
    text = json.dumps(value)
    assert nesting_depth(text) == 3
    assert loads(text, max_bytes=MiB, max_depth=3) == value
    assert loads('"\\ud83d\\ude00"', max_bytes=100) == "\U0001f600"  # a proper pair is fine


def test_depth_limit_is_exact() -> None:
    assert loads("[" * 64 + "]" * 64, max_bytes=MiB) is not None
    with pytest.raises(JSONRefused):
        loads("[" * 65 + "]" * 65, max_bytes=MiB)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), _json.map(json.dumps)))
def test_fuzz_never_raises_anything_but_a_refusal(data) -> None:
    try:
        value = loads(data, max_bytes=4096, max_depth=8)
    except JSONRefused:
        return
    # Whatever is accepted is plain JSON: it re-encodes strictly (what the audit log needs).
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300_000), st.sampled_from(["[", '{"a":', '[{"b":']))
def test_fuzz_deep_nesting_is_refused_without_recursion(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]
    text = opener * depth + "0" + closer * depth
    try:
        loads(text, max_bytes=8 * MiB)
    except JSONRefused as exc:
        assert "nested too deeply" in str(exc)
    else:
        assert depth * opener.count("[") + depth * opener.count("{") <= 64


def test_accepted_floats_are_finite() -> None:
    assert math.isfinite(loads("1e308", max_bytes=100))


def test_a_message_of_millions_of_tiny_values_is_refused_before_it_is_parsed() -> None:
    # 16 MB of "{}," were ~500 MB of Python dicts: refused by count, whatever the size limit
    line = "[" + "{}," * (MAX_VALUES + 1) + "{}]"
    with pytest.raises(JSONRefused, match=f"too many values .*the limit is {MAX_VALUES}"):
        loads(line, max_bytes=64 * 1024 * 1024)
    numbers = ("[" + "0," * (MAX_VALUES + 1) + "0]").encode()
    with pytest.raises(JSONRefused, match="too many values"):
        loads(numbers, max_bytes=64 * 1024 * 1024)


def test_commas_and_brackets_inside_strings_are_not_values() -> None:
    text = '{"text": "' + "a,[{" * (MAX_VALUES // 2) + '"}'
    assert value_count(text) == 1
    assert value_count(text.encode()) == 1
    assert loads(text, max_bytes=64 * 1024 * 1024)["text"].startswith("a,[{")


@pytest.mark.parametrize(
    "line",
    [
        "[" + "[]," * (MAX_VALUES + 1) + "[]]",  # empty arrays, no comma inside any
        '["ünïcode ✓", ' + "0," * (MAX_VALUES + 1) + "0]",  # a str whose bytes outnumber it
        '{"a": "' + "x" * 2_000_000 + '", "b": [' + "{}," * (MAX_VALUES + 1) + "{}]}",
    ],
    ids=["arrays", "non-ascii-text", "long-string-first"],
)
def test_too_many_values_is_refused_whatever_they_are_and_whatever_comes_first(line: str) -> None:
    with pytest.raises(JSONRefused, match="too many values"):
        loads(line, max_bytes=64 * 1024 * 1024)
    assert value_count(line.encode()) > MAX_VALUES
