"""Whole commands from a new process, as a user runs them (issue 18's targets):

- ``ironcurtain exec`` of a ``print(1+1)`` snippet, to its exit: target <= 0.35 s wall
- ``ironcurtain mcp-proxy``, spawn to its answer to ``initialize``: target <= 0.3 s
- ``ironcurtain demo``, to its exit: target <= 3 s

Medians over ``--runs`` runs after one warm-up (which also fills the compile caches and writes
the ``.pyc`` files even where ``PYTHONDONTWRITEBYTECODE`` is set in the caller's shell). The CPU
time of each child is printed beside its wall time: on a shared machine the wall time carries
the load, the CPU time does not. ``--against CHECKOUT`` measures another checkout (with its own
``.venv``) in the same loop, run for run, so old and new see the same machine.

    uv run python tests/bench/bench_startup.py [--runs 5] [--against /tmp/old-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from figures import figure, load_average
from stdio_bench import INIT  # the one initialize request every bench sends

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"exec": 0.35, "mcp-proxy initialize": 0.3, "demo": 3.0}


class Checkout:
    """A checkout to run the commands from: its own interpreter, folder and app home."""

    def __init__(self, root: Path, scratch: Path, label: str) -> None:
        self.root, self.label = root, label
        venv_python = root / ".venv" / "bin" / "python"
        self.python = str(venv_python) if venv_python.exists() else sys.executable
        self.home = scratch / f"home-{label}"
        self.sandbox = scratch / f"sandbox-{label}"
        self.home.mkdir()
        self.sandbox.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(
            IRONCURTAIN_HOME=str(self.home),
            PYTHONPATH=str(root),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
        )

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-m", "appliance.cli", *args]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], None]) -> tuple[float, float]:
    cpu, began = _child_cpu(), time.perf_counter()
    action()
    return time.perf_counter() - began, _child_cpu() - cpu


def run_exec(c: Checkout, snippet: Path) -> None:
    argv = c.argv("exec", str(snippet), "--sandbox", str(c.sandbox))
    done = subprocess.run(argv, cwd=c.root, env=c.env, capture_output=True, text=True)
    if done.returncode != 0 or json.loads(done.stdout)["stdout"] != "2\n":
        raise SystemExit(f"{c.label} exec failed: {done.stdout[-300:]} {done.stderr[-500:]}")


def run_proxy(c: Checkout) -> float:
    """Seconds from spawn to the initialize answer (the process is then stopped, untimed)."""
    argv = c.argv("mcp-proxy", "--sandbox", str(c.sandbox))
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=c.root, env=c.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, bufsize=0,
    )  # fmt: skip
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    answer = proc.stdout.readline()
    elapsed = time.perf_counter() - began
    proc.stdin.close()
    proc.wait(30)
    if b'"result"' not in answer:
        raise SystemExit(f"{c.label} mcp-proxy did not answer initialize: {answer[:300]!r}")
    return elapsed


def run_demo(c: Checkout) -> None:
    done = subprocess.run(
        c.argv("demo", "--quiet"), cwd=c.root, env=c.env, capture_output=True, text=True
    )
    if done.returncode != 0 or "audit verify: intact" not in done.stdout:
        raise SystemExit(f"{c.label} demo failed: {done.stdout[-500:]} {done.stderr[-500:]}")


def measure(checkouts: list[Checkout], runs: int, snippet: Path, names: set[str]) -> dict:
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    actions = {
        "exec": lambda c: timed(lambda: run_exec(c, snippet)),
        "mcp-proxy initialize": lambda c: (run_proxy(c), float("nan")),
        "demo": lambda c: timed(lambda: run_demo(c)),
    }
    for round_ in range(runs + 1):  # round 0 is the warm-up
        for name, action in actions.items():
            if name not in names:
                continue
            for c in checkouts:
                result = action(c)
                if round_:
                    samples.setdefault((name, c.label), []).append(result)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to measure side by side")
    parser.add_argument("--only", action="append", choices=sorted(TARGETS), help="repeatable")
    args = parser.parse_args()
    names = set(args.only or TARGETS)
    print(f"load average {load_average()} (before), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="ic-bench-start-") as tmp:
        scratch = Path(tmp)
        snippet = scratch / "one.py"
        snippet.write_text("print(1+1)\n")
        checkouts = [Checkout(ROOT, scratch, "this")]
        if args.against:
            checkouts.append(Checkout(args.against.resolve(), scratch, "against"))
        samples = measure(checkouts, args.runs, snippet, names)
    for name in (n for n in TARGETS if n in names):
        for c in checkouts:
            walls = [w for w, _ in samples[(name, c.label)]]
            cpus = [u for _, u in samples[(name, c.label)]]
            cpu = statistics.median(cpus)
            where = "" if c.label == "this" else f" [{c.root}]"
            print(
                f"{name} ({c.label}{where}): wall {', '.join(f'{w:.3f}' for w in walls)} s"
                + (f"; child CPU median {cpu:.3f} s" if cpu == cpu else "")
            )
            if c.label == "this":
                figure(f"{name}, median wall", statistics.median(walls), "s", TARGETS[name])
            else:
                print(f"  against: median wall {statistics.median(walls):.3f} s (same loop)")
    print(f"load average {load_average()} (after)")


if __name__ == "__main__":
    main()
