"""Figures for kernel confinement: what it adds to a server's start and to a call, on vs off.

Run: ``python tests/bench/bench_confinement.py``. Not collected by pytest; it prints
figure / target / met. Targets (issue 13): confinement adds <= 5 ms to a server's start and
nothing measurable per call.

- ``confine() in the child``: the time ``serve`` spends importing the confinement package and
  confining (loading the profile, expanding and checking it, namespaces, rlimits, caps,
  Landlock, seccomp), measured inside the child with its own clock after the modules every
  server imports anyway. Run as root it includes moving the process into a pids cgroup (the
  kernel ignores RLIMIT_NPROC for uid 0), printed on its own line: an ordinary user's start
  does not pay it.
- start-to-initialized: spawn ``serve NAME`` and ``serve --no-confine NAME`` alternately, send
  ``initialize``, stop at the answer; the difference of medians, and the child's CPU time.
- per call: raw JSON-RPC round trips, six batches on a confined server alternating with six on
  an unconfined one. "Nothing measurable" is read as: the difference of the batch medians is
  within the spread of the unconfined batches (the run-to-run noise), or below 2 %.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stdio_bench import REPO, load_average, raw_calls, serve_argv, spawn
from stdio_bench import start_to_initialized as started

STARTS = 20
CALLS = 300
BATCHES = 6
START_TARGET_MS = 5.0

# What a start imports anyway (the CLI, serve, the servers' shared MCP layer) is loaded first,
# so the figure is what confinement adds, not the cost of modules the server needs regardless.
_CONFINE_TIMER = """
import sys, time
import appliance.cli.main, appliance.cli.serve, servers.wire.server
began = time.perf_counter()
from appliance.confinement import confine
report = confine(sys.argv[1], sys.argv[2:])
print((time.perf_counter() - began) * 1000, report.timings_ms.get("pids cgroup", 0.0))
"""


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def confine_cost_ms(server: str, args: list[str], runs: int) -> tuple[float, float]:
    """Median of confine() in a fresh child, and of its root-only pids cgroup step."""
    found, cgroup = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _CONFINE_TIMER, server, *args],
            cwd=args[-1] if args else REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        total, root_only = out.split()
        found.append(float(total))
        cgroup.append(float(root_only))
    return statistics.median(found), statistics.median(cgroup)


def start_pair(server_args: list[str], starts: int) -> tuple[float, float, float, float]:
    """Median start (ms) and CPU (ms), confined then unconfined, runs interleaved."""
    on_t, on_c, off_t, off_c = [], [], [], []
    for _ in range(starts):
        t, c = started(serve_argv(*server_args), 1)
        on_t += t
        on_c += c
        t, c = started(serve_argv("--no-confine", *server_args), 1)
        off_t += t
        off_c += c
    return _median_ms(on_t), _median_ms(on_c), _median_ms(off_t), _median_ms(off_c)


def call_pair(server_args: list[str], tool: str, arguments: dict) -> tuple[float, float, float]:
    """Per-batch median call times (ms), confined and unconfined batches alternating: the median
    of each side's batch medians, and the spread (max - min) of the unconfined batches (noise)."""
    on, off = [], []
    for _ in range(BATCHES):
        on.append(_median_ms(raw_calls(serve_argv(*server_args), tool, arguments, CALLS, 20)))
        unconfined = serve_argv("--no-confine", *server_args)
        off.append(_median_ms(raw_calls(unconfined, tool, arguments, CALLS, 20)))
    return statistics.median(on), statistics.median(off), max(off) - min(off)


def _row(figure: str, value: str, target: str, met: bool) -> None:
    print(f"{figure:<44} {value:<34} {target:<22} {'met' if met else 'NOT MET'}")


def _git_repo(root: Path) -> None:
    proc = spawn(serve_argv("--no-confine", "git", "--base-dir", str(root)))
    proc.stdin.close()
    proc.wait(10)
    subprocess.run(["git", "init", "-q", str(root / "repo")], check=True)
    (root / "repo" / "a.txt").write_text("a\n")


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {load_average()}")
    print(f"{'figure':<44} {'confined vs --no-confine':<34} {'target':<22} met")
    with tempfile.TemporaryDirectory() as root:
        Path(root, "small.txt").write_text("hello\n")
        _git_repo(Path(root))
        servers = {
            "filesystem": ["filesystem", root],
            "git": ["git", "--base-dir", root],
            "fetch": ["fetch"],
        }
        for name, argv in servers.items():
            cost, cgroup = confine_cost_ms(name, argv[1:], STARTS)
            target = f"<= {START_TARGET_MS:g} ms added"
            _row(f"{name}: confine() in the child", f"{cost:.2f} ms", target, cost <= 5.0)
            if cgroup:
                user = cost - cgroup
                _row(f"{name}:   of which pids cgroup (root only)", f"{cgroup:.2f} ms", "", True)
                _row(f"{name}:   as an ordinary user (without it)", f"{user:.2f} ms", target,
                     user <= 5.0)  # fmt: skip
            on, on_cpu, off, off_cpu = start_pair(argv, STARTS)
            _row(
                f"{name}: start-to-initialized",
                f"{on:.1f} vs {off:.1f} ms ({on - off:+.1f})",
                target,
                on - off <= START_TARGET_MS,
            )
            _row(f"{name}:   its CPU time", f"{on_cpu:.1f} vs {off_cpu:.1f} ms", "(context)", True)
        calls = [
            ("filesystem: read_text_file", servers["filesystem"], "read_text_file",
             {"path": "small.txt"}),
            ("git: git_status", servers["git"], "git_status", {"path": f"{root}/repo"}),
        ]  # fmt: skip
        for label, argv, tool, arguments in calls:
            on, off, noise = call_pair(argv, tool, arguments)
            added = on - off
            _row(
                f"{label} per call",
                f"{on:.3f} vs {off:.3f} ms ({added:+.3f})",
                f"within noise {noise:.3f} ms",
                added <= max(noise, 0.02 * off),
            )
    print(json.dumps({"starts": STARTS, "calls_per_batch": CALLS, "batches": BATCHES}))


if __name__ == "__main__":
    main()
