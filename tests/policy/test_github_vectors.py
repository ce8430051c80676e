"""GitHub policy vectors (``tests/vectors/github/policy.json``) against the shipped policy.

Every write tool of the GitHub server must appear in a vector and be escalated; reads of the
user's own and of others' repositories are allowed; malformed arguments are denied by the
engine or, where noted, refused by the server itself before it sends any request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from policy_factories import shipped_policy, tcontext

from policy.engine import evaluate
from policy.models import ToolCall

VECTORS = Path(__file__).parents[1] / "vectors" / "github" / "policy.json"
CASES = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["description"][:60] for c in CASES])
def test_vector(case: dict) -> None:
    decision = evaluate(ToolCall(**case["input"]), shipped_policy(), tcontext())
    assert {"decision": decision.decision, "rule": decision.rule} == case["expect"], decision.reason


def test_every_write_tool_has_an_escalating_vector_and_reads_cover_own_and_others() -> None:
    annotations = shipped_policy().annotations["github"]
    writes = {name for name, a in annotations.items() if a.side_effects}
    assert len(writes) == 18
    escalated = {c["input"]["tool"] for c in CASES if c["expect"]["decision"] == "escalate"}
    assert writes <= escalated
    read_owners = {
        str(c["input"]["arguments"].get("owner"))
        for c in CASES
        if c["input"]["tool"] in annotations
        and not annotations[c["input"]["tool"]].side_effects
        and c["expect"]["decision"] == "allow"
    }
    assert {"alice", "torvalds"} <= read_owners


@pytest.mark.parametrize(
    "case", [c for c in CASES if "server_error" in c], ids=lambda c: c["description"][:40]
)
def test_the_server_refuses_what_the_policy_lets_through(case: dict) -> None:
    from servers.github import build_server
    from servers.github.api import GitHubApi

    api = GitHubApi("https://api.github.invalid", "t0ken-never-used")
    server = build_server(api)
    result = server.invoke({"name": case["input"]["tool"], "arguments": case["input"]["arguments"]})
    assert result.is_error and case["server_error"] in result.text
    assert api._client is None  # refused before any connection was made
