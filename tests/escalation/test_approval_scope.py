"""'Similar' approvals cover what the docs say and the approver saw named (issue 14, F12/F16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.chokepoint.approvals import ApprovalWhitelist, scope_for
from appliance.chokepoint.escalation.display import format_request
from appliance.chokepoint.escalation.models import EscalationRequest

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "escalation" / "approvals.json"


def _cases() -> list:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    return [pytest.param(case, id=case["id"]) for case in data]


@pytest.mark.parametrize("case", _cases())
def test_similar_scope(case: dict) -> None:
    role = case["role"]
    entry = scope_for(case["server"], case["tool"], {role: (case["approved"],)}, (role,), str)
    assert entry is not None
    whitelist = ApprovalWhitelist()
    whitelist.add(entry)
    found = whitelist.match(case["server"], case["tool"], {role: (case["later"],)}, (role,), str)
    assert (found is not None) is case["covered"], entry.describe()


def test_scope_is_named_for_the_approver() -> None:
    entry = scope_for(
        "filesystem", "write_file", {"write-path": ("/h/d/a.md",)}, ("write-path",), str
    )
    assert entry.describe() == "filesystem.write_file where write-path directly in folder /h/d"


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
