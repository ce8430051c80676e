"""'Similar' approvals cover what the docs say and the approver saw named (issue 14, F12/F16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.chokepoint.approvals import ApprovalWhitelist, scope_for, targets
from appliance.chokepoint.escalation.display import format_request
from appliance.chokepoint.escalation.models import EscalationRequest
from policy.api import (
    CallFacts,
    EvalContext,
    ToolCall,
    default_policy_dir,
    evaluate,
    lexical,
    load_policy,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "escalation" / "approvals.json"
POLICY = load_policy(default_policy_dir())


def _cases() -> list:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    return [pytest.param(case, id=case["id"]) for case in data]


def _facts(case: dict, value: str) -> CallFacts:
    """The real engine's facts for a call with ``value`` in the case's argument."""
    links: dict[str, str] = case.get("links", {})

    def resolve(path: str) -> str:
        path = lexical(path)
        for link, target in links.items():
            if path == link or path.startswith(link + "/"):
                return target + path[len(link) :]
        return path

    call = ToolCall(server=case["server"], tool=case["tool"], arguments={case["argument"]: value})
    decision = evaluate(call, POLICY, EvalContext(home="/home/u", resolve_path=resolve))
    assert decision.facts is not None and decision.facts.of(case["role"]), decision
    return decision.facts


@pytest.mark.parametrize("case", _cases())
def test_similar_scope(case: dict) -> None:
    role = case["role"]
    entry = scope_for(case["server"], case["tool"], _facts(case, case["approved"]), (role,))
    assert (entry is not None) is case.get("scopable", True)
    if entry is None:
        return
    whitelist = ApprovalWhitelist()
    whitelist.add(entry)
    later = _facts(case, case["later"])
    found = whitelist.match(case["server"], case["tool"], later, (role,))
    assert (found is not None) is case["covered"], entry.describe()


def test_scope_is_named_for_the_approver() -> None:
    case = {"server": "filesystem", "tool": "write_file", "argument": "path", "role": "write-path"}
    entry = scope_for("filesystem", "write_file", _facts(case, "/h/d/a.md"), ("write-path",))
    assert entry.describe() == "filesystem.write_file where write-path directly in folder /h/d"
    case = {"server": "git", "tool": "git_reset", "argument": "path", "role": "delete-history"}
    entry = scope_for("git", "git_reset", _facts(case, "/h/repo/."), ("delete-history",))
    assert entry.describe() == "git.git_reset where delete-history in repository /h/repo"


def test_a_value_the_engine_did_not_establish_is_never_covered() -> None:
    """No facts (a decision made before the arguments were read) or an unknown value (a git
    remote left out): nothing to scope by, and nothing a whitelist entry covers."""
    case = {"server": "git", "tool": "git_push", "argument": "path", "role": "git-remote-url"}
    unknown = _facts(case, "/h/repo")
    assert scope_for("git", "git_push", unknown, ("git-remote-url",)) is None
    known = _facts({**case, "argument": "remote"}, "https://github.com/o/r")
    entry = scope_for("git", "git_push", known, ("git-remote-url",))
    whitelist = ApprovalWhitelist()
    whitelist.add(entry)
    assert whitelist.match("git", "git_push", known, ("git-remote-url",)) == entry
    assert whitelist.match("git", "git_push", unknown, ("git-remote-url",)) is None
    assert whitelist.match("git", "git_push", CallFacts(), ("git-remote-url",)) is None


def _request(**changes) -> EscalationRequest:
    fields = dict(
        id="a" * 32,
        session_id="s",
        server="filesystem",
        tool="write_file",
        arguments={"content": "C" * 5000, "path": "/home/u/Documents/" + "d" * 300 + "/x.md"},
        reason="writing outside the sandbox needs approval",
        rule="escalate-write",
        call_digest="0" * 64,
        policy_digest="p",
    )
    fields.update(changes)
    return EscalationRequest(**fields)


def test_approver_sees_every_target_in_full_before_free_text() -> None:
    path = "/home/u/Documents/" + "d" * 300 + "/x.md"
    request = _request(
        targets={"write-path": [path]},
        similar="filesystem.write_file where write-path directly in folder /home/u/Documents",
    )
    text = format_request(1, request)
    lines = text.splitlines()
    assert lines[0] == "[1] filesystem/write_file"
    assert path in lines[1]  # first, in full, although content sorts before path and is long
    assert text.index(path) < text.index("CCCC") < text.index("reason:")
    assert "(covers filesystem.write_file where write-path directly in folder" in lines[-1]


def test_targets_are_neutralised() -> None:
    request = _request(targets={"write-path": ["/tmp/a\x1b[2K\rok.md\u202e"]})
    line = format_request(1, request).splitlines()[1]
    assert "\x1b" not in line and "\r" not in line and "\u202e" not in line
    assert "\\x1b[2K\\rok.md\\u202e" in line


def test_requests_without_targets_still_show_short_arguments_first() -> None:
    path = "/home/u/Documents/" + "d" * 300 + "/x.md"
    lines = format_request(1, _request()).splitlines()
    assert path in lines[1] and "CCCC" not in lines[1]


def test_the_approver_sees_every_role_of_the_call_declared_roles_included() -> None:
    """Not only the built-in path and URL roles: a declared recipient and amount, the URLs
    found in a free text, an unknown value, and long free text cut (the arguments hold it)."""
    declared = load_policy(VECTORS.parents[1] / "declared" / "policy")
    memo = "pay https://Example.org/inv or evil.com/x. " + "m" * 600
    call = ToolCall(
        server="messaging",
        tool="send_payment",
        arguments={"recipient": "bob", "amount": 900, "memo": memo},
    )
    facts = evaluate(call, declared, EvalContext(home="/home/u", resolve_path=lexical)).facts
    assert targets(facts) == {
        "amount": ["900"],
        "recipient": ["bob"],
        "text-urls": ["https://Example.org/inv", "evil.com/x"],
    }
    git = ToolCall(server="git", tool="git_commit", arguments={"message": "c" * 900})
    shown = targets(evaluate(git, POLICY, EvalContext(home="/home/u", resolve_path=lexical)).facts)
    assert shown["write-path"] == ["(not given: unknown)"]
    assert shown["commit-message"] == ["c" * 500 + "... (400 more characters)"]
