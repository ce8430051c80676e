"""Daemon tests: a rig of two sessions, the scripted signal-cli peer, and a daemon with Signal
holding one escalation that no test may answer by accident."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from daemon_rig import Rig, trequest, until
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.signal import SignalConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


@pytest.fixture
def daemon(rig: Rig, tmp_path: Path) -> Iterator[Daemon]:
    """The daemon serving the rig's hub on a free loopback port (the console's tests)."""
    running = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0)
    running.hub = rig.hub
    running.start()
    yield running
    running.stop()


@pytest.fixture
def peer() -> Iterator[SignalPeer]:
    scripted = SignalPeer()
    yield scripted
    scripted.close()


@pytest.fixture
def signal_escalation(
    rig: Rig, peer: SignalPeer, tmp_path: Path
) -> Callable[[], AbstractAsyncContextManager[Daemon]]:
    """``async with signal_escalation() as daemon``: the daemon runs with Signal on ``peer``,
    and session sess-a's escalation (``trequest("v1", "sess-a")``) waits, announced as 1.
    On leaving, it must still wait: it is denied, and the session must see a denial."""

    @asynccontextmanager
    async def running() -> AsyncIterator[Daemon]:
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
                await until(lambda: any("escalation 1:" in m for m in peer.messages()))
                yield daemon
                (item,) = daemon.hub.pending()  # still waiting
                assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
        finally:
            daemon.stop()
        assert not verdicts["v"].approved

    return running
