"""Daemon figures: ``python tests/bench/bench_daemon.py``.

Escalation to delivery, per channel: from the moment a session's file channel starts asking to
the moment the escalation is on the console's page (an HTTP GET with the token sees it), and to
the moment the scripted signal-cli peer on loopback receives the ``send``. Then the console's
page weight (one page, no other resources: inline CSS, no script, no CDN). Not asserted anywhere.
An open console page reloads itself every 2 s (no script), which a person adds on top. Both
channels are checked in one polling loop, the Signal figure after the page fetch: an upper bound.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
sys.path.insert(0, str(Path(__file__).parents[1] / "daemon"))

import anyio
import httpx
from daemon_rig import Rig, trequest
from figures import figure
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.signal import SignalConfig

ROUNDS = 20


async def _one(rig: Rig, daemon: Daemon, peer: SignalPeer, n: int) -> tuple[float, float, int]:
    assert daemon.console is not None
    request = trequest(f"b{n}", "sess-a", path=f"/home/u/file-{n}.txt")
    seen_web = seen_signal = 0.0
    weight = 0
    async with httpx.AsyncClient(base_url=daemon.console.origin) as client:
        await client.get(f"/?token={daemon.console.token}", follow_redirects=False)
        async with anyio.create_task_group() as group:
            start = time.perf_counter()
            group.start_soon(rig.channels["sess-a"].ask, request)
            marker = f"/home/u/file-{n}.txt"
            while not (seen_web and seen_signal):
                if not seen_web:
                    page = await client.get(daemon.console.base)
                    if marker in page.text:
                        seen_web, weight = time.perf_counter() - start, len(page.content)
                if not seen_signal and any(marker in m for m in peer.messages()):
                    seen_signal = time.perf_counter() - start
                await anyio.sleep(0.002)
            (item,) = daemon.hub.pending()
            daemon.hub.answer(item.short_id, "deny", item.request.call_digest, "bench")
    return seen_web, seen_signal, weight


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rig, peer = Rig(root), SignalPeer()
        config = SignalConfig(
            port=peer.port, account="+15559990000", recipient=RECIPIENT, safety_number=SAFETY
        )
        daemon = Daemon(rig.registry, DaemonFiles(root / "daemon"), "127.0.0.1", 0, config)
        daemon.hub = rig.hub
        daemon.start()
        try:
            web, sig, weights = [], [], []
            for n in range(ROUNDS):
                w, s, size = await _one(rig, daemon, peer, n)
                web.append(w * 1000)
                sig.append(s * 1000)
                weights.append(size)
            async with httpx.AsyncClient(base_url=daemon.console.origin) as client:  # type: ignore[union-attr]
                await client.get(f"/?token={daemon.console.token}")  # type: ignore[union-attr]
                idle = len((await client.get(daemon.console.base)).content)  # type: ignore[union-attr]
        finally:
            daemon.stop()
            peer.close()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {ROUNDS} rounds")
    figure("escalation -> web console, median", statistics.median(web), "ms", target=200)
    figure("escalation -> web console, max", max(web), "ms", target=200)
    figure("escalation -> Signal send, median", statistics.median(sig), "ms", target=200)
    figure("escalation -> Signal send, max", max(sig), "ms", target=200)
    figure("console page weight, one escalation", max(weights) / 1024, "KiB", target=50)
    figure("console page weight, idle (answers listed)", idle / 1024, "KiB", target=50)


if __name__ == "__main__":
    anyio.run(main)
