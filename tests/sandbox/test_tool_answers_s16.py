"""A tool's answer that is not valid Unicode reaches the guest repaired, never as a host crash.

Found by a red team: a result or refusal holding a lone surrogate (a declared Node server that
cuts a text between the two halves of an emoji emits ``"\\ud83d"``, which the wire client's
``json.loads`` keeps) made wasmtime's lowering of the string raise UnicodeEncodeError out of
``Sandbox.run``: the session ended with a traceback.
"""

from __future__ import annotations

import json

import pytest

ANSWERS = {
    "result": (True, "cut emoji \ud83d| tail \udcff"),
    "refusal": (False, "DENIED: \ud800 odd reason"),
    "structured": (True, json.dumps({"text": "x\ud83d"}, ensure_ascii=False)),
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_a_lone_surrogate_in_a_tool_answer_is_replaced(case, sandbox, catalog, small_limits):
    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        return ANSWERS[case]

    code = (
        "try:\n"
        "    value = filesystem.read_text_file(path='a')\n"
        "except ToolError as exc:\n"
        "    value = str(exc)\n"
        "value"
    )
    result = sandbox.run(code, call_tool, catalog, small_limits)
    assert result.error is None, result
    assert "\ufffd" in result.result
    result.result.encode("utf-8")  # what the agent and the terminal get is valid text
    assert sandbox.run("6 * 7", call_tool, catalog).result == "42"


def test_a_valid_pair_of_halves_is_joined_not_replaced(sandbox, catalog, small_limits):
    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        return True, "smile \ud83d\ude00"

    result = sandbox.run("filesystem.read_text_file(path='a')", call_tool, catalog, small_limits)
    assert result.error is None and json.loads(result.result) == "smile \U0001f600", result
