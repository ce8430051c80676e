"""tests/vectors/daemon/signal.json through the scripted signal-cli peer: none answers the
waiting escalation; each is refused and audited, or answered with the help text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from daemon_rig import Rig, trequest
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.signal import SignalConfig

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "daemon" / "signal.json").read_text()
)["cases"]

pytestmark = pytest.mark.anyio


@pytest.fixture
def peer() -> Iterator[SignalPeer]:
    scripted = SignalPeer()
    yield scripted
    scripted.close()


async def _until(predicate, timeout_s: float = 5) -> None:
    with anyio.fail_after(timeout_s):
        while not predicate():
            await anyio.sleep(0.02)


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
async def test_signal_vector(rig: Rig, peer: SignalPeer, tmp_path: Path, case: dict[str, Any]):
    config = SignalConfig(
        port=peer.port, account="+15559990000", recipient=RECIPIENT, safety_number=SAFETY
    )
    daemon = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0, config)
    daemon.hub = rig.hub
    daemon.start()
    verdicts: dict[str, Verdict] = {}

    async def ask() -> None:
        verdicts["v"] = await rig.channels["sess-a"].ask(trequest("v1", "sess-a"))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            await _until(lambda: any("escalation 1:" in m for m in peer.messages()))
            if "identity" in case:
                identity = case["identity"]
                peer.identities[:] = (
                    [] if identity is None else [{**peer.identities[0], **identity}]
                )
            peer.push(case["text"], source=case.get("source", RECIPIENT))
            if case["audit"] is None:
                await _until(lambda: any(m.startswith("commands:") for m in peer.messages()))
                assert daemon.hub.answers() == []
            else:
                await _until(lambda: bool(daemon.hub.answers()))
                (record,) = daemon.hub.answers()
                assert record["outcome"] == "refused" and case["audit"] in record["reason"]
                assert record["channel"] == "signal"
            (item,) = daemon.hub.pending()  # still waiting
            assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    finally:
        daemon.stop()
    assert not verdicts["v"].approved
