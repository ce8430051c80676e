"""The hub answers real file-channel escalations of two sessions; bad answers are refused and
audited with their channel."""

from __future__ import annotations

import anyio
import pytest
from daemon_rig import Rig, trequest

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.hub import Pending

pytestmark = pytest.mark.anyio


async def _wait_pending(rig: Rig, count: int) -> list[Pending]:
    with anyio.fail_after(5):
        while len(rig.hub.pending()) < count:
            rig.hub.refresh()
            await anyio.sleep(0.02)
    return rig.hub.pending()


async def _ask(rig: Rig, session: str, request_id: str, out: dict[str, Verdict]) -> None:
    request = trequest(request_id, session, path=f"/home/u/{session}.txt")
    out[request_id] = await rig.channels[session].ask(request)


async def test_two_sessions_answered_independently_and_audited(rig: Rig) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-a", "ra", verdicts)
        group.start_soon(_ask, rig, "sess-b", "rb", verdicts)
        pending = {p.request.session_id: p for p in await _wait_pending(rig, 2)}
        a, b = pending["sess-a"], pending["sess-b"]
        assert rig.hub.answer(a.short_id, "approve", a.request.call_digest, "web-console").ok
        assert rig.hub.answer(b.short_id, "deny", b.request.call_digest, "signal").ok
    assert verdicts["ra"].approved and not verdicts["rb"].approved and verdicts["rb"].answered
    records = {r["sessionId"]: r for r in rig.hub.answers()}
    assert records["sess-a"]["channel"] == "web-console"
    assert records["sess-a"]["outcome"] == "approved"
    assert records["sess-a"]["callDigest"] == a.request.call_digest
    assert records["sess-b"]["channel"] == "signal" and records["sess-b"]["outcome"] == "denied"


async def test_forged_digest_and_replay_are_refused_and_audited(rig: Rig) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-a", "r1", verdicts)
        group.start_soon(_ask, rig, "sess-b", "r2", verdicts)
        pending = {p.request.session_id: p for p in await _wait_pending(rig, 2)}
        a, b = pending["sess-a"], pending["sess-b"]
        # An approval carrying another call's digest approves neither call.
        forged = rig.hub.answer(a.short_id, "approve", b.request.call_digest, "web-console")
        assert not forged.ok and "digest" in forged.message
        assert rig.hub.answer(a.short_id, "deny", a.request.call_digest, "web-console").ok
        replay = rig.hub.answer(a.short_id, "approve", a.request.call_digest, "signal")
        assert not replay.ok and "replayed" in replay.message
        assert rig.hub.answer(b.short_id, "approve", b.request.call_digest, "signal").ok
    assert not verdicts["r1"].approved and verdicts["r2"].approved
    refused = [r for r in rig.hub.answers() if r["outcome"] == "refused"]
    assert [r["channel"] for r in refused] == ["web-console", "signal"]
    assert "digest" in refused[0]["reason"] and "replayed" in refused[1]["reason"]


async def test_timed_out_escalation_cannot_be_answered_late(tmp_path) -> None:
    rig = Rig(tmp_path, timeout_s=0.3)
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-a", "late", verdicts)
        (item,) = await _wait_pending(rig, 1)
    assert verdicts["late"].timed_out and not verdicts["late"].approved
    rig.hub.refresh()
    assert rig.hub.pending() == []
    late = rig.hub.answer(item.short_id, "approve", item.request.call_digest, "web-console")
    assert not late.ok and "replayed" in late.message
    assert not (item.directory / "response-late.json").exists()  # nothing left to be read
    assert rig.hub.answers()[-1]["outcome"] == "refused"


async def test_request_filed_under_another_session_is_ignored(rig: Rig) -> None:
    folder = rig.channels["sess-a"]._dir
    folder.mkdir(parents=True, exist_ok=True)
    forged = trequest("x1", "sess-b")  # sess-a's folder, sess-b's name
    (folder / "request-x1.json").write_text(forged.to_file_json())
    rig.hub.refresh()
    assert rig.hub.pending() == []


def test_unknown_decision_is_refused(rig: Rig) -> None:
    result = rig.hub.answer("1", "maybe", "0" * 64, "web-console")
    assert not result.ok and rig.hub.answers()[-1]["reason"].startswith("unknown decision")
