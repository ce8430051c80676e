"""Adversarial LLM answers (``tests/vectors/compiler/bad-answers.json``): each stage rejects
them with an error naming the stage, the server and what is wrong, before anything is cached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policy.compiler.annotate import AnnotatedServer, ToolSpec, annotate_server
from policy.compiler.cache import StageCache
from policy.compiler.errors import CompileError
from policy.compiler.lists import resolve_lists
from policy.compiler.rules import compile_server
from policy.compiler.scenarios import write_scenarios
from policy.models import ServerAnnotations
from tests.compiler.support import CONSTITUTION, recorded, tool_specs

DATA = json.loads(
    (Path(__file__).parents[1] / "vectors" / "compiler" / "bad-answers.json").read_text()
)
VECTORS = DATA["cases"]
# a declared server's tools and annotations (its own roles), for the cases about one
DECLARED = DATA["declared"]


class FixedAnswer:
    """The ``LLM`` protocol answering one fixed text (the HTTP path is tested elsewhere)."""

    def __init__(self, answer: object) -> None:
        self.text = answer if isinstance(answer, str) else json.dumps(answer)

    def complete(self, system: str, prompt: str) -> str:
        return self.text


def _run(case: dict, cache: StageCache) -> None:
    llm, server, quiet = FixedAnswer(case["answer"]), case["server"], lambda _: None
    if case["stage"] == "annotate":
        annotate_server(server, _tools(server), llm, cache, quiet)
    elif case["stage"] == "rules":
        compile_server(server, CONSTITUTION, _annotations(server), llm, cache, quiet)
    elif case["stage"] == "scenarios":
        write_scenarios(server, CONSTITUTION, _annotations(server), llm, cache, quiet)
    else:
        resolve_lists({server: "domains"}, CONSTITUTION, {}, llm, cache, quiet)


def _tools(server: str) -> list[ToolSpec]:
    if server in DECLARED:
        return [ToolSpec(**t) for t in DECLARED[server]["tools"]]
    return tool_specs()[server]


def _annotations(server: str) -> ServerAnnotations:
    if server in DECLARED:
        return AnnotatedServer.model_validate(DECLARED[server]["annotations"])
    return ServerAnnotations.model_validate(recorded(f"annotate-{server}.json"))


@pytest.mark.parametrize("case", VECTORS, ids=[c["description"] for c in VECTORS])
def test_a_bad_answer_is_rejected_with_a_clear_error(case, tmp_path):
    cache = StageCache(tmp_path)
    with pytest.raises(CompileError, match=re.escape(case["error"])) as caught:
        _run(case, cache)
    assert str(caught.value).startswith(f"{case['stage']} ")
    assert case["server"] in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing cached: the next run asks again
