"""What the server benchmarks share: start a shipped server as the host does, time its start
to the ``initialize`` answer, and time tool calls over a bare JSON-RPC pipe, with the real SDK
client and with the host's own. Imported by ``bench_filesystem.py`` and ``bench_git.py`` (run as
scripts, this folder is on their path)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


def serve_argv(*server_args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", "serve", *server_args]


def spawn(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env, bufsize=0
    )


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_to_initialized(argv: list[str], starts: int) -> tuple[list[float], list[float]]:
    """Wall time to the initialize answer, and the child's whole CPU time (load-independent)."""
    times, cpu = [], []
    for _ in range(starts):
        cpu_before = _child_cpu()
        began = time.perf_counter()
        proc = spawn(argv)
        proc.stdin.write(json.dumps(INIT).encode() + b"\n")
        answer = proc.stdout.readline()
        times.append(time.perf_counter() - began)
        assert b'"result"' in answer, answer
        proc.stdin.close()
        proc.wait(10)
        cpu.append(_child_cpu() - cpu_before)
    return times, cpu


def python_pass(starts: int) -> tuple[list[float], list[float]]:
    times, cpu = [], []
    for _ in range(starts):
        cpu_before = _child_cpu()
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
        cpu.append(_child_cpu() - cpu_before)
    return times, cpu


def raw_calls(
    argv: list[str], tool: str, arguments: dict, calls: int, warmup: int = 0
) -> list[float]:
    """``calls`` timed ``tools/call`` round trips on a bare pipe, after ``warmup`` untimed ones."""
    proc = spawn(argv)
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdout.readline()
    times = []
    for i in range(warmup + calls):
        request = {
            "jsonrpc": "2.0",
            "id": i + 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        began = time.perf_counter()
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        answer = proc.stdout.readline()
        if i >= warmup:
            times.append(time.perf_counter() - began)
        assert b'"isError":false' in answer, answer
    proc.stdin.close()
    proc.wait(10)
    return times


async def sdk_calls(
    server_args: list[str], tool: str, arguments: dict, calls: int, warmup: int
) -> list[float]:
    """The same with the real SDK client; the warm-up lets it fetch the tool schemas once."""
    sys.path.insert(0, str(REPO))
    from tests.servers.conftest import stdio_session

    times = []
    async with stdio_session(server_args) as session:
        for _ in range(warmup):
            await session.call_tool(tool, arguments)
        for _ in range(calls):
            began = time.perf_counter()
            result = await session.call_tool(tool, arguments)
            times.append(time.perf_counter() - began)
            assert not result.is_error
    return times


async def host_calls(
    server_args: list[str], tool: str, arguments: dict, calls: int, warmup: int
) -> list[float]:
    """The same with the host's own client (``servers.wire.client``), as the chokepoint calls."""
    sys.path.insert(0, str(REPO))
    from servers.wire.client import StdioClient

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    async with StdioClient(serve_argv(*server_args), env=env, cwd=str(REPO)) as client:
        await client.initialize()
        for _ in range(warmup):
            await client.call_tool(tool, arguments)
        for _ in range(calls):
            began = time.perf_counter()
            result = await client.call_tool(tool, arguments)
            times.append(time.perf_counter() - began)
            assert not result.get("isError"), result
    return times


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def ms(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    median = statistics.median(times) * 1000
    return f"median {median:7.2f} ms   min {ordered[0] * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
