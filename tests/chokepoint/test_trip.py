"""The trip of a call through the chokepoint, end to end with the real servers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest
from chokepoint_helpers import ScriptedHuman, session_for

from appliance.chokepoint.audit import verify_file
from appliance.chokepoint.escalation.models import Verdict
from appliance.chokepoint.trip import SessionStopped
from appliance.config.settings import Config

pytestmark = pytest.mark.anyio


def _all(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _records(path: Path) -> list[dict]:
    """The call records (each call's one completed record; intents are not calls)."""
    return [r for r in _all(path) if r.get("type") == "call"]


def _intents(path: Path) -> list[dict]:
    return [r for r in _all(path) if r.get("type") == "intent"]


async def test_allowed_write_inside_the_sandbox_happens_and_is_audited(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    async with session_for(home, sandbox) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(sandbox / "a.txt"), "content": "hello"}
        )
        assert outcome.ok, outcome.text
        assert outcome.decision.rule == "structural-sandbox-allow"
    assert (sandbox / "a.txt").read_text() == "hello"
    (record,) = _records(session.audit_path)
    assert record["decision"] == "allow" and record["status"] == "ok"
    assert record["tool"] == "write_file"
    # the intent came first, durable before the server was called, with no arguments
    (intent,) = _intents(session.audit_path)
    assert intent["seq"] < record["seq"] and record["intent"] == intent["seq"]
    assert intent["callDigest"] == record["callDigest"] and "arguments" not in intent
    assert (intent["server"], intent["tool"], intent["rule"]) == (
        "filesystem",
        "write_file",
        "structural-sandbox-allow",
    )
    result = verify_file(session.audit_path)
    assert result.ok and result.dangling == ()


async def test_denied_call_never_reaches_the_server(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    victim = tmp_path / "outside" / "keep.txt"
    victim.parent.mkdir()
    victim.write_text("precious")
    async with session_for(home, sandbox) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "move_file", {"source": str(victim), "destination": str(sandbox / "x")}
        )
    assert not outcome.ok
    assert outcome.text.startswith("DENIED: ")
    assert outcome.decision.rule == "deny-delete-elsewhere"
    assert victim.read_text() == "precious"
    (record,) = _records(session.audit_path)
    assert record["decision"] == "deny" and record["rule"] == "deny-delete-elsewhere"
    assert _intents(session.audit_path) == [] and "intent" not in record


async def test_protected_path_is_denied_even_inside_the_sandbox(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / ".env").write_text("TOKEN=secret")
    async with session_for(home, sandbox) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "read_text_file", {"path": str(sandbox / ".env")}
        )
        audit = await session.chokepoint.call(
            "filesystem", "read_text_file", {"path": str(session.audit_path)}
        )
    assert outcome.decision.rule == "structural-protected-path"
    assert audit.decision.rule == "structural-protected-path"
    assert "secret" not in outcome.text


@pytest.mark.parametrize(
    ("server", "tool", "arguments", "rule"),
    [
        ("nosuch", "x", {}, "structural-unknown-server"),
        ("filesystem", "format_disk", {}, "structural-unknown-tool"),
        ("filesystem", "read_text_file", {"path": 7}, "invalid-arguments"),
        ("filesystem", "read_text_file", {"path": "a", "sneaky": 1}, "invalid-arguments"),
        ("filesystem", "read_text_file", ["not", "an", "object"], "invalid-arguments"),
    ],
)
async def test_structural_refusals(home, tmp_path, server, tool, arguments, rule):
    async with session_for(home, tmp_path / "sandbox") as session:
        outcome = await session.chokepoint.call(server, tool, arguments)
    assert outcome.decision.rule == rule
    # a schema failure is worded apart from a refusal: the agent should fix it, not give up
    label = "INVALID ARGUMENTS: " if rule == "invalid-arguments" else "DENIED: "
    assert outcome.text.startswith(label)
    assert _records(session.audit_path)[0]["rule"] == rule


async def test_escalation_approved_once(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    outside = tmp_path / "outside"
    outside.mkdir()
    human = ScriptedHuman(Verdict(approved=True, by="user"))
    config = Config(allowed_directories=(str(outside),))
    async with session_for(home, sandbox, channel=human, config=config) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "n.txt"), "content": "ok"}
        )
        again = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "m.txt"), "content": "no"}
        )
    assert outcome.ok, outcome.text
    assert (outside / "n.txt").read_text() == "ok"
    assert again.text.startswith("ESCALATION DENIED")
    assert not (outside / "m.txt").exists()
    assert len(human.asked) == 2
    first = human.asked[0]
    assert first.tool == "write_file" and first.rule == "escalate-write-elsewhere"
    records = _records(session.audit_path)
    assert records[0]["escalation"] == {"outcome": "approved", "by": "user"}
    assert records[1]["escalation"]["outcome"] == "denied"
    # only the approved call went ahead: one intent, naming its approval
    (intent,) = _intents(session.audit_path)
    assert intent["decision"] == "escalate" and intent["escalation"]["outcome"] == "approved"
    assert records[0]["intent"] == intent["seq"] and "intent" not in records[1]


async def test_similar_approval_is_scoped_to_the_directory(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    human = ScriptedHuman(Verdict(approved=True, by="user", scope="similar"))
    config = Config(allowed_directories=(str(outside), str(tmp_path)))
    async with session_for(home, sandbox, channel=human, config=config) as session:
        first = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "a.txt"), "content": "1"}
        )
        same_dir = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(outside / "b.txt"), "content": "2"}
        )
        parent = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(tmp_path / "c.txt"), "content": "3"}
        )
    assert first.ok and same_dir.ok
    assert same_dir.escalation["outcome"] == "whitelisted"
    assert not parent.ok  # the parent directory was never approved
    assert len(human.asked) == 2


async def test_escalation_timeout_denies_and_leaves_no_request_file(home, tmp_path):
    config = Config(escalation_timeout_seconds=5, allowed_directories=(str(tmp_path),))
    async with session_for(home, tmp_path / "sandbox", config=config) as session:
        session.chokepoint.escalation._timeout = 0.3  # the file channel alone, answered by no one
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(tmp_path / "o.txt"), "content": "x"}
        )
    assert outcome.text.startswith("ESCALATION DENIED")
    assert not (tmp_path / "o.txt").exists()
    assert list((session.dir / "escalations").iterdir()) == []
    assert _records(session.audit_path)[0]["escalation"]["outcome"] == "timeout"


async def test_a_failing_approval_channel_denies(home, tmp_path):
    class Broken:
        async def ask(self, request):
            raise RuntimeError("terminal went away")

    config = Config(escalation_timeout_seconds=5, allowed_directories=(str(tmp_path),))
    async with session_for(home, tmp_path / "sandbox", channel=Broken(), config=config) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(tmp_path / "o.txt"), "content": "x"}
        )
    assert outcome.text.startswith("ESCALATION DENIED")
    assert not (tmp_path / "o.txt").exists()


async def test_concurrent_calls_and_a_slow_escalation_does_not_block_others(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    for i in range(10):
        (sandbox / f"f{i}.txt").write_text(str(i))
    gate = anyio.Event()

    class SlowHuman:
        async def ask(self, request):
            await gate.wait()
            return Verdict(approved=False, by="user")

    config = Config(escalation_timeout_seconds=5, allowed_directories=(str(tmp_path),))
    async with session_for(home, sandbox, channel=SlowHuman(), config=config) as session:
        results: dict[int, str] = {}

        async def read(i: int) -> None:
            out = await session.chokepoint.call(
                "filesystem", "read_text_file", {"path": str(sandbox / f"f{i}.txt")}
            )
            results[i] = out.text

        async with anyio.create_task_group() as group:
            group.start_soon(
                session.chokepoint.call,
                "filesystem",
                "write_file",
                {"path": str(tmp_path / "slow.txt"), "content": "x"},
            )
            with anyio.fail_after(20):
                async with anyio.create_task_group() as readers:
                    for i in range(10):
                        readers.start_soon(read, i)
            gate.set()
    assert results == {i: str(i) for i in range(10)}
    assert len(_records(session.audit_path)) == 11 and verify_file(session.audit_path).ended


async def test_circuit_breaker_stops_the_same_call_repeated(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    async with session_for(home, sandbox) as session:
        args = {"path": str(sandbox)}
        outcomes = [
            await session.chokepoint.call("filesystem", "list_directory", args) for _ in range(22)
        ]
    assert all(o.ok for o in outcomes[:20])
    assert outcomes[20].decision.rule == "circuit-breaker"


async def test_git_remote_name_is_enriched_to_its_url_before_the_engine(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", str(sandbox)], check=True)
    subprocess.run(["git", "-C", str(sandbox), "remote", "add", "origin", str(remote)], check=True)
    human = ScriptedHuman()
    async with session_for(home, sandbox, channel=human) as session:
        outcome = await session.chokepoint.call(
            "git", "git_push", {"path": str(sandbox), "remote": "origin", "branch": "main"}
        )
    assert outcome.decision.decision == "escalate"
    assert outcome.text.startswith("ESCALATION DENIED")
    assert human.asked and human.asked[0].rule == "escalate-git-remote"


async def test_git_paths_are_anchored_where_the_git_server_reads_them(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    repo = sandbox / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    async with session_for(home, sandbox) as session:
        missing = await session.chokepoint.call("git", "git_status", {})
        moved = await session.chokepoint.call("git", "git_set_working_dir", {"path": "repo"})
        relative = await session.chokepoint.call("git", "git_status", {"path": "."})
    records = _records(session.audit_path)
    assert records[0]["arguments"]["path"] == str(sandbox)
    assert moved.ok, moved.text
    assert records[2]["arguments"]["path"] == str(repo)
    assert relative.ok and relative.decision.decision == "allow"
    assert missing.decision.decision != "deny"


async def test_an_escalated_path_the_server_cannot_reach_is_refused_without_asking(home, tmp_path):
    human = ScriptedHuman(Verdict(approved=True, by="user"))
    async with session_for(home, tmp_path / "sandbox", channel=human) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(tmp_path / "elsewhere.txt"), "content": "x"}
        )
    assert human.asked == []
    assert outcome.text.startswith("ESCALATION DENIED: ")
    assert "allowedDirectories" in outcome.text
    assert not (tmp_path / "elsewhere.txt").exists()
    (record,) = _records(session.audit_path)
    assert record["escalation"] == {"outcome": "denied", "by": "chokepoint"}


async def test_an_intent_that_cannot_be_written_stops_the_session_before_the_call(home, tmp_path):
    sandbox = tmp_path / "sandbox"
    async with session_for(home, sandbox) as session:
        audit = session.chokepoint.audit
        # the log's descriptor now refuses writes (as a full or failed disk would)
        readonly = os.open(audit.path, os.O_RDONLY)
        os.dup2(readonly, audit._fd)
        os.close(readonly)
        with pytest.raises(SessionStopped, match="the audit log could not be written"):
            await session.chokepoint.call(
                "filesystem", "write_file", {"path": str(sandbox / "a.txt"), "content": "x"}
            )
    assert not (sandbox / "a.txt").exists()  # the server was never called
    assert _intents(session.audit_path) == [] and _records(session.audit_path) == []
