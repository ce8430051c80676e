"""Figures for the git server: start-to-initialized and git_status latency (medians).

Run: ``python tests/bench/bench_git.py``. Not collected by pytest, nothing asserted.
Targets (issue 3): start-to-initialized <= 300 ms, git_status <= 10 ms; the reference
``mcp-server-git`` measured here: 810 ms and 7 ms.

Start-to-initialized spawns ``python -m appliance.cli serve git --base-dir DIR``, sends
``initialize`` and stops the clock at its answer. ``git_status`` is timed over a bare JSON-RPC
pipe, with the real SDK client, and against plain ``git status`` (what git itself costs; the
server adds its hardened environment, a cached config scan and the parse).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTS = 20
CALLS = 200
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


def _server(base: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", "serve", "git", "--base-dir", base]


def _spawn(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env, bufsize=0
    )


def _make_repo(base: Path) -> Path:
    repo = base / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=b", "-c", "user.email=b@b"]
    for n in range(50):
        (repo / f"file{n}.txt").write_text(f"{n}\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), *ident, "commit", "-qm", "x"], check=True, env=env)
    (repo / "file1.txt").write_text("changed\n")
    (repo / "untracked.txt").write_text("u\n")
    return repo


def start_to_initialized(base: str) -> list[float]:
    times = []
    for _ in range(STARTS):
        began = time.perf_counter()
        proc = _spawn(_server(base))
        proc.stdin.write(json.dumps(INIT).encode() + b"\n")
        answer = proc.stdout.readline()
        times.append(time.perf_counter() - began)
        assert b'"result"' in answer, answer
        proc.stdin.close()
        proc.wait(10)
    return times


def python_pass() -> list[float]:
    times = []
    for _ in range(STARTS):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
    return times


def plain_git_status(repo: Path) -> list[float]:
    times = []
    for _ in range(CALLS):
        began = time.perf_counter()
        subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "-z"],
            cwd=repo,
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - began)
    return times


def raw_calls(base: str, arguments: dict) -> list[float]:
    proc = _spawn(_server(base))
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdout.readline()
    times = []
    for i in range(CALLS + 10):
        request = {
            "jsonrpc": "2.0",
            "id": i + 1,
            "method": "tools/call",
            "params": {"name": "git_status", "arguments": arguments},
        }
        began = time.perf_counter()
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        answer = proc.stdout.readline()
        if i >= 10:  # the first calls pay for the config scan and the lazy imports
            times.append(time.perf_counter() - began)
        assert b'"isError":false' in answer, answer
    proc.stdin.close()
    proc.wait(10)
    return times


async def sdk_calls(base: str, arguments: dict) -> list[float]:
    sys.path.insert(0, str(REPO))
    from tests.servers.conftest import stdio_session

    times = []
    async with stdio_session(["git", "--base-dir", base]) as session:
        for _ in range(10):
            await session.call_tool("git_status", arguments)
        for _ in range(CALLS):
            began = time.perf_counter()
            result = await session.call_tool("git_status", arguments)
            times.append(time.perf_counter() - began)
            assert not result.is_error
    return times


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9)]
    median = statistics.median(times) * 1000
    return f"median {median:7.2f} ms   min {ordered[0] * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as base:
        repo = _make_repo(Path(base))
        arguments = {"path": str(repo)}
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, n={STARTS} starts, "
            f"{CALLS} calls each, repo of 50 files with 1 change and 1 untracked"
        )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"python -c pass                       {_ms(python_pass())}")
        print(f"start-to-initialized (serve git)     {_ms(start_to_initialized(base))}")
        print(f"plain git status (subprocess)        {_ms(plain_git_status(repo))}")
        print(f"raw pipe  git_status                 {_ms(raw_calls(base, arguments))}")
        print(
            f"SDK client git_status                {_ms(asyncio.run(sdk_calls(base, arguments)))}"
        )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
