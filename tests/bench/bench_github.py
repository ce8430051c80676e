"""Figures for the GitHub server: `python tests/bench/bench_github.py` prints medians.

Start-to-initialized and calls are timed over raw stdio pipes (newline-delimited JSON-RPC, as the
host's client sends it), so the figure is the server's. The API is the tests' scripted GitHub on
127.0.0.1 (``tests/servers/github_fake.py``), so the server runs with --allow-private-addresses;
after the first call the server's HTTP connection is kept alive, which is what "a cached-connection
call" measures: the server's own cost plus one loopback round trip.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from stdio_bench import INIT  # noqa: E402 - the one initialize request every bench sends

from tests.servers.github_fake import TOKEN, fake_github  # noqa: E402


def _spawn(api_url: str | None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "appliance.cli", "serve", "github"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN}
    if api_url:
        argv.append("--allow-private-addresses")
        env["IRONCURTAIN_GITHUB_API_URL"] = api_url
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        cwd=ROOT, env=env,
    )  # fmt: skip


def _ask(proc: subprocess.Popen, message: dict) -> dict:
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def start_to_initialized(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = _spawn(None)
        _ask(proc, INIT)
        times.append((time.perf_counter() - started) * 1000)
        proc.stdin.close()
        proc.wait()
    return times


def calls(api_url: str, runs: int) -> tuple[float, list[float]]:
    proc = _spawn(api_url)
    _ask(proc, INIT)
    call = {"name": "get_me", "arguments": {}}
    time.sleep(1.0)  # the server imports httpx in the background after the handshake
    started = time.perf_counter()
    first = _ask(proc, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})
    first_ms = (time.perf_counter() - started) * 1000
    assert not first["result"]["isError"], first
    times = []
    for n in range(runs):
        started = time.perf_counter()
        answer = _ask(
            proc, {"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call", "params": call}
        )
        times.append((time.perf_counter() - started) * 1000)
        assert not answer["result"]["isError"], answer
    proc.stdin.close()
    proc.wait()
    return first_ms, times


def main() -> None:
    from figures import figure

    start = start_to_initialized(15)
    with fake_github() as fake:
        first, times = calls(fake.url, 200)
        connections = len({s.peer for s in fake.seen})
    print(
        f"github server start-to-initialized: median {statistics.median(start):.0f} ms "
        f"(min {min(start):.0f}, max {max(start):.0f}, n={len(start)}; target <= 150 ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"first get_me (connects, checks the address): {first:.1f} ms")
    print(
        f"get_me over the kept-alive connection: median {statistics.median(times):.2f} ms "
        f"(p90 {sorted(times)[int(len(times) * 0.9)]:.2f}, n={len(times)}; target <= 2 ms; "
        f"{connections} TCP connection(s) for {len(fake.seen)} requests)"
    )
    figure("github start-to-initialized, median", statistics.median(start), "ms", 150)
    figure("github cached-connection call, median", statistics.median(times), "ms", 2)


if __name__ == "__main__":
    main()
