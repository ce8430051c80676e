"""tests/vectors/daemon/signal.json through the scripted signal-cli peer: none answers the
waiting escalation; each is refused and audited, or answered with the help text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import until
from signal_peer import RECIPIENT, SignalPeer

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "daemon" / "signal.json").read_text()
)["cases"]

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
async def test_signal_vector(signal_escalation, peer: SignalPeer, case: dict[str, Any]) -> None:
    async with signal_escalation() as daemon:
        if "identity" in case:
            identity = case["identity"]
            peer.identities[:] = [] if identity is None else [{**peer.identities[0], **identity}]
        peer.push(case["text"], source=case.get("source", RECIPIENT))
        if case["audit"] is None:
            await until(lambda: any(m.startswith("commands:") for m in peer.messages()))
            assert daemon.hub.answers() == []
        else:
            await until(lambda: bool(daemon.hub.answers()))
            (record,) = daemon.hub.answers()
            assert record["outcome"] == "refused" and case["audit"] in record["reason"]
            assert record["channel"] == "signal"
