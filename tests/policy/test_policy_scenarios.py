"""The shipped default policy: its scenarios, its coverage of our servers, its constitution."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from policy_factories import shipped_policy

from appliance.config.paths import AppPaths
from policy.loader import Policy, default_policy_dir
from policy.models import DynamicListsFile, ToolAnnotationsFile
from policy.scenarios import load_scenarios, replay

GENERATED = default_policy_dir()
SCENARIOS = load_scenarios(GENERATED / "test-scenarios.json")


def _protected(ironcurtain_home: str) -> tuple[str, ...]:
    home = Path(ironcurtain_home)
    return AppPaths(home=home, cache=home / "cache").protected_patterns()


RESULTS = replay(SCENARIOS, shipped_policy(), _protected)


@pytest.mark.parametrize("result", RESULTS, ids=[r.scenario.description for r in RESULTS])
def test_shipped_scenario(result) -> None:
    scenario, decision = result.scenario, result.decision
    assert (decision.decision, decision.rule) == (
        scenario.expected_decision,
        scenario.expected_rule,
    ), decision.reason


def test_scenarios_cover_every_effect() -> None:
    assert len(RESULTS) >= 50
    assert {r.scenario.expected_decision for r in RESULTS} == {"allow", "deny", "escalate"}


def test_every_shipped_rule_matters_to_some_scenario() -> None:
    """Drop one rule at a time: some scenario must then fail, or the rule is untested."""
    annotations = ToolAnnotationsFile.model_validate_json(
        (GENERATED / "tool-annotations.json").read_text()
    )
    lists = DynamicListsFile.model_validate_json((GENERATED / "dynamic-lists.json").read_text())
    rules = shipped_policy().rules
    untested = []
    for rule in rules:
        reduced = Policy.build([r for r in rules if r is not rule], annotations, lists)
        if all(result.passed for result in replay(SCENARIOS, reduced, _protected)):
            untested.append(rule.name)
    assert untested == []


def test_every_tool_of_our_servers_is_annotated() -> None:
    annotations = shipped_policy().annotations
    assert len(annotations["filesystem"]) == 14
    assert len(annotations["git"]) == 28
    assert set(annotations["fetch"]) == {"http_fetch", "web_search"}
    assert len(annotations["github"]) == 41


@pytest.mark.parametrize("server", ["filesystem", "fetch", "git", "github"])
def test_annotations_know_exactly_the_arguments_the_server_accepts(server: str) -> None:
    schemas = _server_schemas(server)
    annotations = shipped_policy().annotations[server]
    assert set(schemas) == set(annotations)
    for tool, schema in schemas.items():
        annotated = {key.split(".")[0].removesuffix("[]") for key in annotations[tool].args}
        assert annotated == set(schema.get("properties", {})), tool


def _server_schemas(server: str) -> dict[str, dict]:
    if server == "filesystem":
        module = pytest.importorskip("servers.filesystem.server")
        return {name: entry[2] for name, entry in module._TABLE.items()}
    if server == "git":
        module = pytest.importorskip("servers.git")
        return {name: tool.input_schema for name, tool in module.build_server([]).tools.items()}
    if server == "github":
        module = pytest.importorskip("servers.github")
        return {entry["name"]: entry["inputSchema"] for entry in module.load_catalog()}
    module = pytest.importorskip("servers.fetch.tools")
    return {"http_fetch": module.HTTP_FETCH_SCHEMA, "web_search": module.WEB_SEARCH_SCHEMA}


def test_compiled_policy_records_the_constitution_it_came_from() -> None:
    compiled = json.loads((GENERATED / "compiled-policy.json").read_text())
    constitution = (GENERATED.parent / "constitution.md").read_bytes()
    assert compiled["constitutionHash"] == hashlib.sha256(constitution).hexdigest()
