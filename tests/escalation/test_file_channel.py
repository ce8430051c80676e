"""FileChannel: exact answers approve, everything else denies, nothing is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from esc_factories import trequest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.chokepoint.escalation import FileChannel, Verdict
from appliance.chokepoint.escalation.files import parse_response, request_path, response_path
from appliance.chokepoint.escalation.registry import LOCK_NAME

pytestmark = pytest.mark.anyio


async def answer_with(directory: Path, request_id: str, make_answer) -> None:
    """Wait for the request file, then write whatever ``make_answer(request_json)`` returns."""
    path = request_path(directory, request_id)
    while not path.exists():
        await anyio.sleep(0.01)
    body = make_answer(json.loads(path.read_text()))
    target = response_path(directory, request_id)
    temp = directory / "answer.tmp"
    temp.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    os.replace(temp, target)


async def ask_while(directory: Path, make_answer, request=None, timeout_s=5.0) -> Verdict:
    request = request or trequest()
    channel = FileChannel(directory, timeout_s=timeout_s, poll_s=0.01)
    result: list[Verdict] = []

    async def asker() -> None:
        result.append(await channel.ask(request))

    async with anyio.create_task_group() as group:
        group.start_soon(asker)
        if make_answer is not None:
            group.start_soon(answer_with, directory, request.id, make_answer)
    assert sorted(p.name for p in directory.iterdir()) == []  # no open approval left behind
    return result[0]


def exact(decision: str, **extra):
    return lambda req: {
        "id": req["id"],
        "decision": decision,
        "callDigest": req["callDigest"],
        **extra,
    }


async def test_request_file_is_atomic_private_camel_case(tmp_path: Path) -> None:
    seen: dict = {}

    def inspect(req: dict) -> dict:
        seen.update(req)
        seen["mode"] = request_path(tmp_path, req["id"]).stat().st_mode & 0o777
        return exact("deny")(req)

    await ask_while(tmp_path, inspect)
    assert seen["mode"] == 0o600
    assert seen["callDigest"] == trequest().call_digest and seen["sessionId"] == "sess-1"
    assert seen["policyDigest"] == "p" * 64


async def test_exact_approve(tmp_path: Path) -> None:
    verdict = await ask_while(tmp_path, exact("approve"))
    assert verdict == Verdict(approved=True, by="listener", scope="once")
    assert verdict.outcome == "approved"


async def test_exact_approve_similar(tmp_path: Path) -> None:
    verdict = await ask_while(tmp_path, exact("approve", scope="similar"))
    assert verdict.approved and verdict.scope == "similar"


async def test_exact_deny(tmp_path: Path) -> None:
    verdict = await ask_while(tmp_path, exact("deny"))
    assert not verdict.approved and verdict.outcome == "denied" and verdict.note == ""
    assert verdict.answered


async def test_timeout_denies(tmp_path: Path) -> None:
    verdict = await ask_while(tmp_path, None, timeout_s=0.2)
    assert not verdict.approved and verdict.timed_out and verdict.outcome == "timeout"


BAD_ANSWERS = {
    "not json": lambda req: b"{approve",
    "a list": lambda req: [req["id"], "approve"],
    "missing digest": lambda req: {"id": req["id"], "decision": "approve"},
    "wrong digest": lambda req: {"id": req["id"], "decision": "approve", "callDigest": "0" * 64},
    "wrong id": lambda req: {"id": "other", "decision": "approve", "callDigest": req["callDigest"]},
    "extra key": exact("approve", by="me"),
    "decision yes": exact("yes"),
    "decision Approve": exact("Approve"),
    "bad scope": exact("approve", scope="forever"),
    "too large": lambda req: {**exact("approve")(req), "scope": "once" + " " * 70_000},
}


@pytest.mark.parametrize("name", sorted(BAD_ANSWERS))
async def test_anything_but_an_exact_answer_denies(tmp_path: Path, name: str) -> None:
    verdict = await ask_while(tmp_path, BAD_ANSWERS[name])
    assert not verdict.approved and not verdict.timed_out and verdict.failed
    assert verdict.note  # says why


async def test_symlinked_response_denies(tmp_path: Path) -> None:
    request = trequest()
    elsewhere = tmp_path.parent / f"{tmp_path.name}-approval.json"
    elsewhere.write_text(json.dumps(exact("approve")(json.loads(request.to_file_json()))))

    async def plant() -> None:
        while not request_path(tmp_path, request.id).exists():
            await anyio.sleep(0.01)
        response_path(tmp_path, request.id).symlink_to(elsewhere)

    channel = FileChannel(tmp_path, timeout_s=5, poll_s=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(plant)
        verdict = await channel.ask(request)
    assert not verdict.approved and "safely" in verdict.note


async def test_a_stale_response_from_before_the_question_is_ignored(tmp_path: Path) -> None:
    request = trequest()
    body = json.dumps(exact("approve")(json.loads(request.to_file_json())))
    response_path(tmp_path, request.id).write_text(body)
    verdict = await FileChannel(tmp_path, timeout_s=0.2, poll_s=0.01).ask(request)
    assert verdict.timed_out and not verdict.approved


async def test_cancellation_removes_the_request(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path, timeout_s=30, poll_s=0.01)
    with anyio.move_on_after(0.2) as scope:
        await channel.ask(trequest())
    assert scope.cancelled_caught
    assert list(tmp_path.iterdir()) == []


async def test_unwritable_folder_denies(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    verdict = await FileChannel(tmp_path / "file" / "esc", timeout_s=1).ask(trequest())
    assert not verdict.approved and "could not write" in verdict.note


async def test_a_listener_that_dies_while_asked_means_deny(tmp_path: Path) -> None:
    registry, esc = tmp_path / "running", tmp_path / "esc"
    registry.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (registry / LOCK_NAME).write_text(f"{sleeper.pid}\n")
    channel = FileChannel(esc, timeout_s=10, registry_dir=registry, poll_s=0.01)

    async def kill_soon() -> None:
        await anyio.sleep(0.2)
        sleeper.kill()
        sleeper.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(kill_soon)
            verdict = await channel.ask(trequest())
    assert not verdict.approved and not verdict.timed_out
    assert "exited without answering" in verdict.note


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    extra=st.dictionaries(
        st.sampled_from(["id", "decision", "callDigest", "scope", "by", "note"]),
        _JSON | st.sampled_from(["approve", "deny", "req1", "once", "similar"]),
    )
)
def test_only_an_exact_answer_ever_approves(extra: dict) -> None:
    request = trequest()
    approved, _scope, problem = parse_response(json.dumps(extra).encode(), request)
    exact_approval = (
        extra.keys() <= {"id", "decision", "callDigest", "scope"}
        and extra.get("id") == request.id
        and extra.get("decision") == "approve"
        and extra.get("callDigest") == request.call_digest
        and extra.get("scope", "once") in ("once", "similar")
    )
    assert approved == exact_approval
    assert not (approved and problem)
