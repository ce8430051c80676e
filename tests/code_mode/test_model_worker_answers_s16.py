"""The model worker parses the network and is not trusted: a line of its that is nested too
deeply is a ModelError (one sentence, the session goes on), never a RecursionError traceback."""

from __future__ import annotations

import pytest

from appliance.agent.model_worker import ModelError, _answer


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ok": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"error": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    ],
    ids=["deep-array", "deep-object"],
)
def test_a_deeply_nested_worker_answer_is_a_model_error(raw):
    with pytest.raises(ModelError, match="nested too deeply"):
        _answer(raw, "openai:scripted", None)
