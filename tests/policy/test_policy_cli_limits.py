"""Issue 14's share of the policy CLI and the engine's matching: a closed pipe ends quietly,
batch lines carry an id, identifier lists can match exactly, and `policy check` decides as the
live chokepoint does (one corpus through both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from policy_factories import make_policy, tcall, tcontext

from policy.domains import IdentifierSet
from policy.engine import evaluate

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "appliance.cli"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def test_a_closed_pipe_ends_quietly_like_git() -> None:
    for args in (["policy", "show"], ["policy", "check", "--batch", "-"]):
        batch = "\n".join(
            json.dumps({"id": i, "server": "fetch", "tool": "web_search", "arguments": {}})
            for i in range(20_000)
        )
        shell = f"{' '.join(CLI + args)} | head -c 10"
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", shell],
            input=batch, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
        assert done.returncode in (0, 141), (args, done.returncode, done.stderr)


def test_batch_lines_may_carry_an_id_that_is_echoed() -> None:
    lines = [
        {"id": "first", "server": "fetch", "tool": "web_search", "arguments": {"query": "x"}},
        {"id": 2, "server": "fetch", "tool": "http_fetch", "arguments": {"url": "x", "y": 1}},
        {"id": {"not": "scalar"}, "server": "fetch", "tool": "web_search", "arguments": {}},
        {"server": "fetch", "tool": "web_search", "arguments": {"query": "y"}},
    ]
    done = subprocess.run(
        [*CLI, "policy", "check", "--batch", "-"],
        input="\n".join(map(json.dumps, lines)), capture_output=True, text=True, env=_env(),
        cwd=ROOT, timeout=60,
    )  # fmt: skip
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0]["id"] == "first" and out[0]["rule"] == "allow-web-search"
    assert out[1]["id"] == 2 and out[1]["rule"] == "invalid-arguments"  # the server's schema
    assert "'id' must be a string or an integer" in out[2]["error"]
    assert "id" not in out[3] and out[3]["decision"] == "allow"
    assert done.returncode == 2  # one bad line


def test_identifier_lists_can_match_exactly() -> None:
    folded, exact = IdentifierSet(["Alice"]), IdentifierSet(["Alice"], exact=True)
    assert folded.matches(" alice ") and folded.matches("ALICE")
    assert exact.matches("Alice")
    assert not exact.matches(" alice ") and not exact.matches("alice")
    rules = [
        {
            "name": "exact-owner",
            "if": {
                "lists": [
                    {
                        "roles": ["github-owner"],
                        "allowed": ["Alice"],
                        "matchType": "identifiers",
                        "match": "exact",
                    }
                ]
            },
        }
    ]
    policy = make_policy(rules, {"repo": {"owner": ["github-owner"]}})
    decide = lambda owner: evaluate(tcall("srv", "repo", owner=owner), policy, tcontext()).rule  # noqa: E731 - a one-line probe
    assert decide("Alice") == "exact-owner"
    assert decide("alice") == decide(" Alice ") == "default-deny"
