"""Added latency of the chokepoint per allowed call, versus calling the same server directly.

Both sides use the host's own MCP client (``servers.wire.client``) over stdio to one shipped
filesystem server each, reading small files; the gated side adds the schema check, policy engine,
redaction, the intent record (durable before the server is called) and the call's audit record
(written before the result returns, durable with the next sync). The calls alternate,
direct then gated, so both sides see the same machine load, and the overhead is taken per pair
(gated call i minus direct call i: median and p99 of those); a bare JSON-RPC pipe is timed too, as
the floor. Distinct files per call so the circuit breaker (same call > 20 times a minute) never
trips. Targets (issue 18): overhead median <= 0.35 ms, p99 <= 1 ms.

    uv run python tests/bench/bench_chokepoint.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import os
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
from stdio_bench import raw_calls, serve_argv  # noqa: E402


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _alternate(sandbox: Path, home: Path, calls: int) -> tuple[list[float], list[float]]:
    from appliance.config.paths import AppPaths
    from appliance.config.settings import Config
    from appliance.session.core import SessionOptions, open_session
    from servers.wire.client import StdioClient

    paths = AppPaths(home=home, cache=home / "cache")
    options = SessionOptions(task="bench", sandbox=sandbox)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    direct, gated = [], []
    async with (
        StdioClient(serve_argv("filesystem", str(sandbox)), env=env, cwd=str(ROOT)) as client,
        open_session(Config(), paths, options) as session,
    ):
        await client.initialize()
        await session.servers.tools("filesystem")
        for i in range(calls):
            arguments = {"path": str(sandbox / f"f{i}.txt")}
            start = time.perf_counter()
            await client.call_tool("read_text_file", arguments)
            middle = time.perf_counter()
            outcome = await session.chokepoint.call("filesystem", "read_text_file", arguments)
            gated.append(time.perf_counter() - middle)
            direct.append(middle - start)
            if not outcome.ok:
                raise SystemExit(f"unexpected refusal: {outcome.text}")
    return direct, gated


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp) / "sandbox"
        sandbox.mkdir()
        for i in range(calls):
            (sandbox / f"f{i}.txt").write_text(f"file {i}\n")
        print(f"load average {load_average()} (before)")
        raw = raw_calls(
            serve_argv("filesystem", str(sandbox)),
            "read_text_file",
            {"path": str(sandbox / "f0.txt")},
            calls,
            warmup=20,
        )
        direct, gated = await _alternate(sandbox, Path(tmp) / "home", calls)
    d50, d99 = statistics.median(direct) * 1e3, _pct(direct, 0.99) * 1e3
    g50, g99 = statistics.median(gated) * 1e3, _pct(gated, 0.99) * 1e3
    print(f"calls per side: {calls} (read_text_file of a small file, filesystem server, stdio)")
    r50, r99 = statistics.median(raw) * 1e3, _pct(raw, 0.99) * 1e3
    print(f"raw pipe median {r50:7.3f} ms   p99 {r99:7.3f} ms   (bare JSON-RPC, blocking reads)")
    print(f"direct   median {d50:7.3f} ms   p99 {d99:7.3f} ms   (host's MCP client, no gate)")
    print(f"gated    median {g50:7.3f} ms   p99 {g99:7.3f} ms   (chokepoint + audit on disk)")
    # Paired: call i of each side ran back to back, so each difference saw one machine state.
    paired = [(g - d) * 1e3 for g, d in zip(gated, direct, strict=True)]
    figure("chokepoint overhead, median", statistics.median(paired), "ms", target=0.35)
    figure("chokepoint overhead, p99", _pct(paired, 0.99), "ms", target=1.0)
    figure("gated call, median (direct call + overhead)", g50, "ms")
    print(f"load average {load_average()} (after)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    anyio.run(main, parser.parse_args().calls)
