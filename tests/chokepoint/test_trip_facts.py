"""After the engine decides, the chokepoint reads the engine's facts (issue 17): the server-roots
check, the approver's targets and the audit record see the paths as the engine resolved them."""

from __future__ import annotations

import json

import pytest
from chokepoint_helpers import ScriptedHuman, session_for

from appliance.chokepoint.audit import verify_file
from appliance.chokepoint.escalation.models import Verdict
from appliance.config.settings import Config

pytestmark = pytest.mark.anyio


def _calls(path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("type") == "call"]


async def test_the_approver_sees_where_a_symlink_really_leads(home, tmp_path):
    # The link stays in its root: the filesystem server refuses one from a root into another
    # (the sandbox into here, say), whatever the policy judged (s15, a swap after the judgement).
    outside = tmp_path / "outside"
    (outside / "real").mkdir(parents=True)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (outside / "link").symlink_to(outside / "real")
    human = ScriptedHuman(Verdict(approved=True, by="user"))
    config = Config(allowed_directories=(str(outside),), escalation_timeout_seconds=5)
    async with session_for(home, sandbox, channel=human, config=config) as session:
        written = str(outside / "link" / "a.txt")
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": written, "content": "x"}
        )
    real = str(outside.resolve() / "real" / "a.txt")
    assert outcome.ok and (outside / "real" / "a.txt").read_text() == "x"
    assert human.asked[0].targets == {"write-path": [f"{real} (as written: {written})"]}
    record = _calls(session.audit_path)[0]
    assert record["resolved"] == {"write-path": [real]}
    assert verify_file(session.audit_path).ok


async def test_a_path_resolving_outside_the_servers_folders_is_refused_unasked(home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "door").symlink_to(elsewhere)
    human = ScriptedHuman(Verdict(approved=True, by="user"))
    config = Config(allowed_directories=(), escalation_timeout_seconds=5)
    async with session_for(home, sandbox, channel=human, config=config) as session:
        outcome = await session.chokepoint.call(
            "filesystem", "write_file", {"path": str(sandbox / "door" / "x"), "content": "x"}
        )
    assert not outcome.ok and outcome.text.startswith("ESCALATION DENIED:")
    assert "outside the folders the filesystem server may use" in outcome.text
    assert human.asked == [] and not (elsewhere / "x").exists()
    assert _calls(session.audit_path)[0]["escalation"] == {"outcome": "denied", "by": "chokepoint"}


async def test_an_engine_failure_is_audited_with_its_cause_and_hidden_from_the_agent(
    home, tmp_path
):
    async with session_for(home, tmp_path / "sandbox") as session:

        def broken(path: str) -> str:
            raise OSError(f"cannot look up {path}")

        chokepoint = session.chokepoint
        chokepoint.context = chokepoint.context.model_copy(update={"resolve_path": broken})
        outcome = await chokepoint.call("filesystem", "read_text_file", {"path": "/etc/hostname"})
    assert outcome.decision.rule == "engine-error"
    assert outcome.text == "DENIED: the policy engine failed on this call"
    record = _calls(session.audit_path)[0]
    assert record["engineError"] == "OSError: cannot look up /etc/hostname"
    assert "resolved" not in record
