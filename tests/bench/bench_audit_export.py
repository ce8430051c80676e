"""What OpenTelemetry export costs a call when the collector is dead, and what signing costs.

Two sessions side by side, one with ``audit.export = "otlp"`` pointed at a loopback port where
nothing listens (the worst case: every export fails and retries), one with export off. Calls
alternate between them (and which side goes first alternates), the same ``read_text_file``
through the whole chokepoint (policy, redaction, the fsynced audit append), and the overhead is
taken per pair (on minus off). Target (issue 20): median <= 20 us. Also printed: the cost of one
Ed25519 checkpoint signature (made on a background thread, never on a call's path) and of one
sealed append.

    uv run python tests/bench/bench_audit_export.py [--calls 600]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from figures import figure, load_average  # noqa: E402 - after the path set-up


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def _pairs(tmp: Path, calls: int) -> tuple[list[float], list[float], dict]:
    from appliance.config.paths import AppPaths
    from appliance.config.settings import Config
    from appliance.session.core import SessionOptions, open_session

    sandbox = tmp / "sandbox"
    sandbox.mkdir()
    for i in range(calls):
        (sandbox / f"f{i}.txt").write_text(f"file {i}\n")
    paths = AppPaths(home=tmp / "home", cache=tmp / "home" / "cache")
    on_config = Config.model_validate({"audit": {"export": "otlp"}})
    off, on = [], []
    async with contextlib.AsyncExitStack() as stack:
        quiet = await stack.enter_async_context(
            open_session(Config(), paths, SessionOptions(task="off", sandbox=sandbox))
        )
        loud = await stack.enter_async_context(
            open_session(on_config, paths, SessionOptions(task="on", sandbox=sandbox))
        )
        for session in (quiet, loud):
            await session.servers.tools("filesystem")
        for i in range(calls):
            arguments = {"path": str(sandbox / f"f{i}.txt")}
            # Which side goes first alternates, so neither gains from the other's warm caches.
            first, second = (quiet, loud) if i % 2 == 0 else (loud, quiet)
            start = time.perf_counter()
            await first.chokepoint.call("filesystem", "read_text_file", arguments)
            middle = time.perf_counter()
            await second.chokepoint.call("filesystem", "read_text_file", arguments)
            end = time.perf_counter()
            off.append(middle - start if first is quiet else end - middle)
            on.append(end - middle if first is quiet else middle - start)
        stats = loud.chokepoint.audit._observer.stats()
    return off, on, stats


def _signing_costs(tmp: Path, n: int = 2000) -> tuple[float, float]:
    from appliance.chokepoint.audit import AuditLog
    from appliance.chokepoint.audit.signing import Signer, checkpoint_message

    signer = Signer.generate()
    message = checkpoint_message("s", 1, "h" * 64, "2026-01-01T00:00:00Z")
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        signer.sign(message)
        samples.append(time.perf_counter() - started)
    log = AuditLog.create(tmp / "sealed.jsonl", "s", {}, [], "p")
    appends = []
    for i in range(500):
        started = time.perf_counter()
        log.append({"server": "filesystem", "tool": "read_text_file", "n": i})
        appends.append(time.perf_counter() - started)
    log.close()
    return statistics.median(samples) * 1e6, statistics.median(appends) * 1e6


async def main(calls: int) -> None:
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _dead_endpoint()
    print(f"load average {load_average()} (before)")
    with tempfile.TemporaryDirectory() as tmp:
        off, on, stats = await _pairs(Path(tmp), calls)
        sign_us, append_us = _signing_costs(Path(tmp))
    paired = [(b - a) * 1e6 for a, b in zip(off, on, strict=True)]
    print(f"calls per side: {calls}; export to a dead collector: {stats}")
    print(f"export off median {statistics.median(off) * 1e3:.3f} ms, "
          f"on median {statistics.median(on) * 1e3:.3f} ms")  # fmt: skip
    figure("export on (dead collector) minus off, median", statistics.median(paired), "us",
           target=20.0)  # fmt: skip
    figure("checkpoint signature (Ed25519), median, off the call path", sign_us, "us")
    figure("sealed audit append incl. fdatasync, median", append_us, "us")
    print(f"load average {load_average()} (after)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=600)
    anyio.run(main, parser.parse_args().calls)
