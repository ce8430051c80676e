"""``annotate-tools`` alone: changes shown before they are written, and new annotations that
would break the active policy's scenarios leave the old file in place."""

from __future__ import annotations

import pytest

from policy.compiler.errors import CompileError
from policy.compiler.pipeline import compile_policy
from policy.compiler.reannotate import annotate_tools
from tests.compiler.support import client, inputs, recorded, snapshot


def _with_fetch_answer(script, tmp_path, url_roles, comment="Fetches a page"):
    compile_policy(inputs(tmp_path), client(script.openai_base), lambda _: None)
    answer = recorded("annotate-fetch.json")
    answer["tools"][0]["args"]["url"] = url_roles
    answer["tools"][0]["comment"] = comment
    script.overrides["annotate-fetch"] = answer
    (tmp_path / "cache").rename(tmp_path / "old-cache")  # ask the LLM again


def test_a_changed_annotation_is_shown_before_it_replaces_the_old(script, tmp_path):
    _with_fetch_answer(script, tmp_path, ["fetch-url"], comment="Fetches one web page")
    target = tmp_path / "generated" / "tool-annotations.json"
    shown = []

    def show(name, old, new):
        shown.append((name, old["comment"], new["comment"], b"one web page" in target.read_bytes()))

    changed = annotate_tools(inputs(tmp_path), client(script.openai_base), lambda _: None, show)
    assert changed == ["fetch/http_fetch"]
    assert shown == [("fetch/http_fetch", "Fetches a page", "Fetches one web page", False)]
    assert b"Fetches one web page" in target.read_bytes()


def test_annotations_that_break_the_active_scenarios_are_refused(script, tmp_path):
    _with_fetch_answer(script, tmp_path, ["none"])
    before = snapshot(tmp_path / "generated")
    with pytest.raises(CompileError, match="'fetch the news' expects allow but gets deny"):
        annotate_tools(inputs(tmp_path), client(script.openai_base), lambda _: None)
    assert snapshot(tmp_path / "generated") == before
