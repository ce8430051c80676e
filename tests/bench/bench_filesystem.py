"""Figures for the filesystem server: start-to-initialized and trivial-call latency (medians).

Run: ``python tests/bench/bench_filesystem.py``. Not collected by pytest, nothing asserted.
Targets (issue 3): start-to-initialized <= 300 ms, trivial call <= 1 ms; the reference Node
server measured here: 310 ms and 0.5 ms. On a shared machine wall times follow the load, so the
child's CPU time for a start is printed too.

Start-to-initialized spawns ``python -m appliance.cli serve filesystem ROOT``, sends
``initialize`` and stops the clock at its answer (the same spawn as the host does). Call latency
is timed with the real SDK client (``ClientSession.call_tool``) and, to separate the server from
the client, with a bare JSON-RPC pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTS = 20
CALLS = 500
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}


def _server(root: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", "serve", "filesystem", root]


def _spawn(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env, bufsize=0
    )


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_to_initialized(root: str) -> tuple[list[float], list[float]]:
    """Wall time to the initialize answer, and the child's whole CPU time (load-independent)."""
    times, cpu = [], []
    for _ in range(STARTS):
        cpu_before = _child_cpu()
        began = time.perf_counter()
        proc = _spawn(_server(root))
        proc.stdin.write(json.dumps(INIT).encode() + b"\n")
        answer = proc.stdout.readline()
        times.append(time.perf_counter() - began)
        assert b'"result"' in answer, answer
        proc.stdin.close()
        proc.wait(10)
        cpu.append(_child_cpu() - cpu_before)
    return times, cpu


def python_pass() -> tuple[list[float], list[float]]:
    times, cpu = [], []
    for _ in range(STARTS):
        cpu_before = _child_cpu()
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
        cpu.append(_child_cpu() - cpu_before)
    return times, cpu


def raw_calls(root: str, tool: str, arguments: dict) -> list[float]:
    proc = _spawn(_server(root))
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdout.readline()
    times = []
    for i in range(CALLS):
        request = {
            "jsonrpc": "2.0",
            "id": i + 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        began = time.perf_counter()
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdout.readline()
        times.append(time.perf_counter() - began)
    proc.stdin.close()
    proc.wait(10)
    return times


async def sdk_calls(root: str, tool: str, arguments: dict) -> list[float]:
    sys.path.insert(0, str(REPO))
    from tests.servers.conftest import stdio_session

    times = []
    async with stdio_session(["filesystem", root]) as session:
        for _ in range(20):  # warm-up: the client fetches tool schemas once
            await session.call_tool(tool, arguments)
        for _ in range(CALLS):
            began = time.perf_counter()
            result = await session.call_tool(tool, arguments)
            times.append(time.perf_counter() - began)
            assert not result.is_error
    return times


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    median = statistics.median(times) * 1000
    return f"median {median:7.2f} ms   min {ordered[0] * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        Path(root, "small.txt").write_text("hello\n")
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, n={STARTS} starts, "
            f"{CALLS} calls each"
        )
        for label, (times, cpu) in (
            ("python -c pass", python_pass()),
            ("start-to-initialized (serve fs)", start_to_initialized(root)),
        ):
            print(f"{label:<36} {_ms(times)}")
            print(f"{'  its CPU time (user+sys)':<36} {_ms(cpu)}")
        small = {"path": "small.txt"}
        rows = [
            ("raw pipe  list_allowed_directories", raw_calls(root, "list_allowed_directories", {})),
            ("raw pipe  read_text_file small", raw_calls(root, "read_text_file", small)),
            (
                "SDK client list_allowed_directories",
                asyncio.run(sdk_calls(root, "list_allowed_directories", {})),
            ),
            (
                "SDK client read_text_file small",
                asyncio.run(sdk_calls(root, "read_text_file", small)),
            ),
        ]
        for label, times in rows:
            print(f"{label:<36} {_ms(times)}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
