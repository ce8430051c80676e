"""Escalation files are an entry point too (issue 14): request and response files are parsed by
policy.safe_json, so a hostile or broken file is refused with a reason, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from esc_factories import trequest

from appliance.chokepoint.escalation.files import parse_response
from appliance.chokepoint.escalation.listener import _read_request

HOSTILE = [
    (b'{"id": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested too deeply"),
    (b'{"id": "x", "decision": "approve", "callDigest": NaN}', "NaN"),
    (b'{"id": "x", "decision": "deny", "decision": "approve", "callDigest": "y"}', "twice"),
    (b'{"id": "\xff"}', "UTF-8"),
    (b'{"id": "\\ud800"}', "lone surrogate"),
]


@pytest.mark.parametrize(("data", "problem"), HOSTILE)
def test_hostile_response_files_are_refused_with_a_reason(data: bytes, problem: str) -> None:
    approved, scope, why = parse_response(data, trequest())
    assert (approved, scope) == (False, "once")
    assert why.startswith("response ") and problem in why


@pytest.mark.parametrize(("data", "problem"), HOSTILE)
def test_hostile_request_files_are_refused_by_the_listener(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "request-x.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="malformed request") as caught:
        _read_request(path)
    assert problem in str(caught.value)


def test_a_good_request_file_still_reads(tmp_path: Path) -> None:
    request = trequest()
    path = tmp_path / f"request-{request.id}.json"
    path.write_text(request.to_file_json())
    assert _read_request(path) == request
    assert json.loads(path.read_text())["callDigest"] == request.call_digest
