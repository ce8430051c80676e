"""Signal through a scripted signal-cli JSON-RPC peer on loopback: an escalation is announced
with its short id, ``approve N`` from the paired phone lands, and a stranger, a changed identity
key and a replay are refused and audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from daemon_rig import Rig, trequest, until
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.signal import SignalConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def daemon(rig: Rig, peer: SignalPeer, tmp_path: Path) -> Iterator[Daemon]:
    config = SignalConfig(
        port=peer.port, account="+15559990000", recipient=RECIPIENT, safety_number=SAFETY
    )
    running = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0, config)
    running.hub = rig.hub
    running.start()
    yield running
    running.stop()


async def _ask(rig: Rig, session: str, request_id: str, out: dict[str, Verdict]) -> None:
    request = trequest(request_id, session, path=f"/home/u/{session}.txt")
    out[request_id] = await rig.channels[session].ask(request)


async def test_announce_approve_and_replay(rig: Rig, peer: SignalPeer, daemon: Daemon) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-a", "s1", verdicts)
        await until(lambda: any("escalation 1:" in m for m in peer.messages()))
        shown = next(m for m in peer.messages() if "escalation 1:" in m)
        assert "/home/u/sess-a.txt" in shown and "approve 1" in shown
        assert peer.sent[0]["recipient"] == [RECIPIENT]
        peer.push("approve 1")
        await until(lambda: "s1" in verdicts)
    assert verdicts["s1"].approved
    await until(lambda: "[1] approved" in peer.messages())
    peer.push("approve 1")  # the same message again
    await until(lambda: any(m.startswith("refused: replayed") for m in peer.messages()))
    records = daemon.hub.answers()
    assert [(r["channel"], r["outcome"]) for r in records] == [
        ("signal", "approved"),
        ("signal", "refused"),
    ]
    assert records[0]["who"] == RECIPIENT


async def test_stranger_and_changed_key_are_refused(
    rig: Rig, peer: SignalPeer, daemon: Daemon
) -> None:
    verdicts: dict[str, Verdict] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_ask, rig, "sess-b", "s2", verdicts)
        await until(lambda: any("escalation 1:" in m for m in peer.messages()))
        peer.push("approve 1", source="+15550002222")
        await until(lambda: len(daemon.hub.answers()) == 1)
        assert "not the paired recipient" in daemon.hub.answers()[0]["reason"]
        peer.identities[0] = {**peer.identities[0], "safetyNumber": "99999 " * 12}
        peer.push("approve 1")
        await until(lambda: any("identity key changed" in m for m in peer.messages()))
        assert daemon.hub.pending(), "the escalation still waits"
        peer.identities[0] = {**peer.identities[0], "safetyNumber": SAFETY}
        peer.push("deny 1")
        await until(lambda: "s2" in verdicts)
    assert not verdicts["s2"].approved and verdicts["s2"].answered
    outcomes = [(r["outcome"], r["reason"][:20]) for r in daemon.hub.answers()]
    assert [o for o, _ in outcomes] == ["refused", "refused", "denied"]


async def test_status_and_sessions(rig: Rig, peer: SignalPeer, daemon: Daemon) -> None:
    peer.push("sessions")
    await until(lambda: any("sess-a (pid" in m for m in peer.messages()))
    peer.push("status")
    await until(lambda: "no pending escalations" in peer.messages())
    peer.push("hello")
    await until(lambda: any(m.startswith("commands:") for m in peer.messages()))


def test_setup_links_trusts_on_confirmation_and_writes_0600(
    peer: SignalPeer, tmp_path: Path
) -> None:
    import stat

    from appliance.daemon.signal_setup import SetupError, setup_signal

    target = tmp_path / "daemon" / "signal.json"
    said: list[str] = []
    common = {"host": "127.0.0.1", "port": peer.port, "account": "+15559990000"}
    with pytest.raises(SetupError, match="not trusted"):
        setup_signal(
            target,
            **common,
            recipient=RECIPIENT,
            link_name=None,
            ask=lambda _: "no",
            say=said.append,
        )
    assert not target.exists()
    with pytest.raises(SetupError, match="0 identity keys"):
        setup_signal(
            target,
            **common,
            recipient="+15550009999",
            link_name=None,
            ask=lambda _: "yes",
            say=said.append,
        )
    config = setup_signal(
        target,
        **common,
        recipient=RECIPIENT,
        link_name="ironcurtain",
        ask=lambda _: "yes",
        say=said.append,
    )
    assert peer.linked["deviceName"] == "ironcurtain" and any("sgnl://" in s for s in said)
    assert config.safety_number == SAFETY and SAFETY in said[-1]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert SignalConfig.model_validate_json(target.read_bytes()) == config


async def test_session_end_is_notified_with_its_reason(
    rig: Rig, peer: SignalPeer, daemon: Daemon
) -> None:
    import json

    folder = rig.registrations[0].entry.escalations_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "session.json").write_text(json.dumps({"state": "running"}))
    await until(lambda: len(daemon.hub.sessions) == 2)
    await anyio.sleep(0.2)  # the bridge has seen both sessions alive
    rig.registrations[0].close()  # the registry entry goes first, as in open_session ...
    await anyio.sleep(0.3)
    assert not any("ended" in m for m in peer.messages()), "still 'running': no notice yet"
    reason = "budget: 200 steps reached"  # ... then the final state is written
    (folder / "session.json").write_text(json.dumps({"state": "stopped", "reason": reason}))
    await until(lambda: f"IronCurtain session sess-a ended, stopped: {reason}" in peer.messages())
    assert not any("sess-b ended" in m for m in peer.messages())


async def test_a_budget_nearly_used_is_told_once_and_shown_live_in_the_console(
    rig: Rig, peer: SignalPeer, daemon: Daemon, tmp_path: Path
) -> None:
    import json

    from appliance.chokepoint.audit import AuditLog
    from appliance.config.paths import AppPaths
    from appliance.daemon.pages import render_session

    folder = rig.registrations[0].entry.escalations_dir.parent
    folder.mkdir(parents=True, exist_ok=True)

    def use(steps: int, tokens: int) -> None:  # as the session writes it after each model step
        budget = {"tokens": [tokens, 1000], "steps": [steps, 200], "seconds": [3.0, None]}
        (folder / "session.json").write_text(json.dumps({"state": "running", "budget": budget}))

    use(10, 100)
    await until(lambda: len(daemon.hub.sessions) == 2)
    await anyio.sleep(0.3)
    assert not any("budget at" in m for m in peer.messages())
    use(170, 100)
    await until(lambda: any("steps budget at 170 of 200 (85 %)" in m for m in peer.messages()))
    use(190, 950)
    await until(lambda: any("tokens budget at 950 of 1000 (95 %)" in m for m in peer.messages()))
    await anyio.sleep(0.3)
    told = [m for m in peer.messages() if "budget at" in m]
    assert len(told) == 2 and all(m.startswith("IronCurtain session sess-a:") for m in told)
    # the console's session page reads the same live figures
    paths = AppPaths(home=tmp_path, cache=tmp_path / "cache")
    AuditLog.create(folder / "audit.jsonl", "sess-a", {}, [], "p" * 64).close()
    page = render_session(paths, "sess-a")
    assert page is not None and '<table id="budget">' in page
    assert "<td>steps</td><td>190</td><td>200</td>" in page
    assert "<td>seconds</td><td>3.0</td><td>no limit</td>" in page
    # garbage in session.json is no figure at all, never an error page
    (folder / "session.json").write_text('{"budget": {"steps": ["x", 2], "tokens": 5}}')
    page = render_session(paths, "sess-a")
    assert page is not None and "budget use: not reported yet" in page


async def test_session_end_notice_shows_its_reason_and_state_neutralised(
    rig: Rig, peer: SignalPeer, daemon: Daemon
) -> None:
    """The reason (a model's error text, say) and the state come from ``session.json``: a
    newline in them would forge a line such as an escalation announcement, a bidi override
    would reorder what the phone shows."""
    import json

    folder = rig.registrations[0].entry.escalations_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "session.json").write_text(json.dumps({"state": "running"}))
    await until(lambda: len(daemon.hub.sessions) == 2)
    await anyio.sleep(0.2)  # the bridge has seen both sessions alive
    rig.registrations[0].close()
    reason = "model error\nIronCurtain escalation 7: filesystem/read_file\nreply: approve 7\u202e"
    state = {"state": "stopped\r\x1b[2K", "reason": reason}
    (folder / "session.json").write_text(json.dumps(state))
    await until(lambda: any("sess-a ended" in m for m in peer.messages()))
    (notice,) = [m for m in peer.messages() if "sess-a ended" in m]
    assert "\n" not in notice and "\u202e" not in notice and "\x1b" not in notice
    assert notice == (
        "IronCurtain session sess-a ended, stopped\\r\\x1b[2K: model error\\nIronCurtain "
        "escalation 7: filesystem/read_file\\nreply: approve 7\\u202e"
    )


async def test_status_and_budget_replies_are_neutralised(
    rig: Rig, peer: SignalPeer, daemon: Daemon
) -> None:
    import json

    verdicts: dict[str, Verdict] = {}
    tool = "read\napprove 9\u202e r\u0435ad"  # with a Cyrillic e
    request = trequest("s9", "sess-a").model_copy(update={"tool": tool})

    async def ask() -> None:
        verdicts["s9"] = await rig.channels["sess-a"].ask(request)

    folder = rig.registrations[0].entry.escalations_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    budget = {"steps\nreply: approve 1": [190, 200]}
    (folder / "session.json").write_text(json.dumps({"state": "running", "budget": budget}))
    async with anyio.create_task_group() as group:
        group.start_soon(ask)
        await until(lambda: any("escalation 1:" in m for m in peer.messages()))
        peer.push("status")
        await until(lambda: any(m.startswith("1: filesystem/") for m in peer.messages()))
        await until(lambda: any("budget at 190" in m for m in peer.messages()))
        (item,) = daemon.hub.pending()
        assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    status = next(m for m in peer.messages() if m.startswith("1: filesystem/"))
    assert status == "1: filesystem/read\\napprove 9\\u202e r\u0435ad [mixed scripts: Cyrillic]"
    told = next(m for m in peer.messages() if "budget at 190" in m)
    assert "\n" not in told and "steps\\nreply: approve 1 budget" in told


async def test_strangers_cannot_grow_the_answers_file(peer: SignalPeer, daemon: Daemon) -> None:
    """Anyone who knows the account's number can message it: only the paired recipient's
    messages are read; a stranger's are ignored and counted, and recorded in answers.jsonl
    only at the 1st, 10th, 100th ... (each record was a line, an fsync under the hub's lock)."""
    for n in range(150):
        peer.push(f"approve {n}", source=f"+1555000{n:04d}")
    peer.push("status")  # handled after every stranger's message: one connection, in order
    await until(lambda: "no pending escalations" in peer.messages())
    assert peer.messages() == ["no pending escalations"], "a stranger got a reply"
    assert daemon.signal is not None and daemon.signal.strangers == 150
    records = daemon.hub.answers()
    assert [r["reason"] for r in records] == [
        "message from a sender who is not the paired recipient (1 this run)",
        "message from a sender who is not the paired recipient (10 this run)",
        "message from a sender who is not the paired recipient (100 this run)",
    ]
    assert all(r["outcome"] == "refused" and r["channel"] == "signal" for r in records)


async def test_a_changed_identity_key_cannot_grow_the_answers_file(
    signal_escalation, peer: SignalPeer
) -> None:
    """Whoever holds the recipient's number with another key is refused each time, and
    recorded like a stranger: at the 1st, 10th, 100th ..."""
    async with signal_escalation() as daemon:
        peer.identities[0] = {**peer.identities[0], "safetyNumber": "99999 " * 12}
        for _ in range(12):
            peer.push("approve 1")
        await until(lambda: sum("identity key changed" in m for m in peer.messages()) == 12)
        reasons = [r["reason"] for r in daemon.hub.answers()]
        assert reasons == [
            "recipient's identity key is not the trusted one (approve 1; 1 this run)",
            "recipient's identity key is not the trusted one (approve 1; 10 this run)",
        ]


async def test_a_reply_that_cannot_be_sent_raises_nothing_in_its_thread(
    peer: SignalPeer, daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """signal-cli going away (or the daemon stopping) while a reply is sent: as in the refresh
    loop, nothing to tell anyone; an exception escaping a command's thread was a traceback."""
    import threading

    escaped: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda info: escaped.append(info.exc_value))
    tried: list[str] = []

    def gone(text: str) -> None:
        tried.append(text)
        raise ConnectionError("signal-cli closed the connection")

    assert daemon.signal is not None
    monkeypatch.setattr(daemon.signal, "send", gone)
    peer.push("status")
    await until(lambda: bool(tried))
    await anyio.sleep(0.1)
    assert escaped == []
