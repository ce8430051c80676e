"""Run every benchmark and print one table: figure, target, met or missed.

    uv run python tests/bench/run_all.py [--only NAME ...] [--list] [--dist DIR] [--log DIR]

Each ``tests/bench/bench_NAME.py`` runs as its own process (new benches are picked up by that
name); the figures come from the ``BENCH-FIGURE`` lines they print (``figures.py``), the rest of
their output is kept in the log folder. A bench that cannot run here (no Docker engine, no build
for the artifact bench: pass ``--dist`` or build first) is a row saying why, not a failure of the
whole run. The machine's load average is printed before and after: figures from a shared machine
carry its load, so compare old and new in one run rather than with a figure from another day.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from figures import MARKER, load_average, verdict  # noqa: E402 - after the path set-up

DEFAULT_DIST = ROOT / "packaging" / "build_out" / "dist"
TIMEOUT_S = 30 * 60


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def arguments(name: str, dist: Path | None) -> list[str] | str:
    """The bench's command-line arguments, or why it cannot run here."""
    if name == "artifact":
        if dist is None or not any(dist.glob("ironcurtain-*.tar.gz")):
            return f"no build in {dist or DEFAULT_DIST}: run packaging/build.py or pass --dist"
        return ["--dist", str(dist)]
    return []


def run_one(name: str, script: Path, args: list[str], log_dir: Path) -> tuple[list[dict], str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's warm start has its .pyc files
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return [], f"timed out after {TIMEOUT_S // 60} min"
    log = log_dir / f"{name}.log"
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    figures = [
        json.loads(line[len(MARKER) :])
        for line in done.stdout.splitlines()
        if line.startswith(MARKER)
    ]
    took = f"{time.monotonic() - began:.0f} s"
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        return figures, f"exit {done.returncode} after {took}: {last[0][:120]} (see {log})"
    return figures, "" if figures else f"no figures reported in {took} (see {log})"


def table(rows: list[tuple[str, dict | None, str]]) -> str:
    lines = [f"{'bench':<12} {'figure':<60} {'value':>12} {'target':>13}  result"]
    for bench, fig, note in rows:
        if fig is None:
            lines.append(f"{bench:<12} {note}")
            continue
        value = f"{fig['value']:.3f} {fig['unit']}"
        target = fig["target"]
        bound = ">=" if fig.get("at_least") else "<="
        goal = f"{bound} {target:g} {fig['unit']}" if target is not None else "-"
        result = verdict(fig["value"], target, fig.get("at_least", False))
        lines.append(f"{bench:<12} {fig['name'][:60]:<60} {value:>12} {goal:>13}  {result}")
    return "\n".join(lines)


def main() -> int:
    benches = discover()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(benches), help="repeatable")
    parser.add_argument("--list", action="store_true", help="name the benches and stop")
    parser.add_argument(
        "--dist", type=Path, help=f"build output for the artifact bench ({DEFAULT_DIST})"
    )
    parser.add_argument("--log", type=Path, help="folder for each bench's full output")
    args = parser.parse_args()
    if args.list:
        print("\n".join(benches))
        return 0
    dist = args.dist or DEFAULT_DIST
    log_dir = args.log or Path(tempfile.mkdtemp(prefix="ic-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    before = load_average()
    rows: list[tuple[str, dict | None, str]] = []
    for name, script in benches.items():
        if args.only and name not in args.only:
            continue
        wanted = arguments(name, dist)
        if isinstance(wanted, str):
            rows.append((name, None, f"skipped: {wanted}"))
            continue
        print(f"running {name} (load {load_average()})...", file=sys.stderr, flush=True)
        figures, note = run_one(name, script, wanted, log_dir)
        rows += [(name, fig, "") for fig in figures]
        if note:
            rows.append((name, None, note))
    print(f"\nload average before {before}; after {load_average()}; {os.cpu_count()} cores")
    print(f"full outputs: {log_dir}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
