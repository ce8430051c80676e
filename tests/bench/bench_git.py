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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import figure
from stdio_bench import (
    host_calls,
    load_average,
    median_ms,
    ms,
    python_pass,
    raw_calls,
    sdk_calls,
    serve_argv,
)
from stdio_bench import start_to_initialized as started

STARTS = 20
CALLS = 200


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


def main() -> None:
    with tempfile.TemporaryDirectory() as base:
        repo = _make_repo(Path(base))
        arguments = {"path": str(repo)}
        argv = serve_argv("git", "--base-dir", base)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, n={STARTS} starts, "
            f"{CALLS} calls each, repo of 50 files with 1 change and 1 untracked"
        )
        print(load_average())
        print(f"python -c pass                       {ms(python_pass(STARTS)[0])}")
        starts = started(argv, STARTS)[0]
        print(f"start-to-initialized (serve git)     {ms(starts)}")
        print(f"plain git status (subprocess)        {ms(plain_git_status(repo))}")
        # The first calls pay for the config scan and the lazy imports: warm up first.
        raw = raw_calls(argv, "git_status", arguments, CALLS, warmup=10)
        print(f"raw pipe  git_status                 {ms(raw)}")
        server = ["git", "--base-dir", base]
        sdk = asyncio.run(sdk_calls(server, "git_status", arguments, CALLS, warmup=10))
        print(f"SDK client git_status                {ms(sdk)}")
        host = asyncio.run(host_calls(server, "git_status", arguments, CALLS, warmup=10))
        print(f"host client git_status               {ms(host)}")
        print(load_average())
        figure("git start-to-initialized, median", median_ms(starts), "ms", 300)
        figure("git_status, host client, median", median_ms(host), "ms", 10)


if __name__ == "__main__":
    main()
