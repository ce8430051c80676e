"""Added latency of the chokepoint per allowed call, versus calling the same server directly.

Both sides use the same SDK client over stdio to the same filesystem server reading small files;
the chokepoint side adds schema check, policy engine, redaction and the fsynced audit append.
Distinct files per call so the circuit breaker (same call > 20 times a minute) never trips.

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

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _direct(sandbox: Path, calls: int) -> list[float]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "appliance.cli", "serve", "filesystem", str(sandbox)]
    )
    times = []
    async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
        await session.initialize()
        for i in range(calls):
            start = time.perf_counter()
            await session.call_tool("read_text_file", {"path": str(sandbox / f"f{i}.txt")})
            times.append(time.perf_counter() - start)
    return times


async def _gated(sandbox: Path, home: Path, calls: int) -> list[float]:
    from appliance.config import Config
    from appliance.paths import AppPaths
    from appliance.session import SessionOptions, open_session

    paths = AppPaths(home=home, cache=home / "cache")
    options = SessionOptions(task="bench", sandbox=sandbox)
    times = []
    async with open_session(Config(), paths, options) as session:
        await session.servers.tools("filesystem")
        for i in range(calls):
            start = time.perf_counter()
            outcome = await session.chokepoint.call(
                "filesystem", "read_text_file", {"path": str(sandbox / f"f{i}.txt")}
            )
            times.append(time.perf_counter() - start)
            if not outcome.ok:
                raise SystemExit(f"unexpected refusal: {outcome.text}")
    return times


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp) / "sandbox"
        sandbox.mkdir()
        for i in range(calls):
            (sandbox / f"f{i}.txt").write_text(f"file {i}\n")
        direct = await _direct(sandbox, calls)
        gated = await _gated(sandbox, Path(tmp) / "home", calls)
    d50, d99 = statistics.median(direct) * 1e3, _pct(direct, 0.99) * 1e3
    g50, g99 = statistics.median(gated) * 1e3, _pct(gated, 0.99) * 1e3
    print(f"calls per side: {calls} (read_text_file of a small file, filesystem server, stdio)")
    print(f"direct  median {d50:7.3f} ms   p99 {d99:7.3f} ms")
    print(f"gated   median {g50:7.3f} ms   p99 {g99:7.3f} ms")
    print(f"overhead median {g50 - d50:6.3f} ms   p99 {g99 - d99:6.3f} ms")
    print("targets: overhead median <= 1 ms, p99 <= 3 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    anyio.run(main, parser.parse_args().calls)
