"""Code Mode sandbox figures: ``python tests/bench/bench_sandbox.py``.

Medians of: one execution of a trivial snippet in a warm Sandbox (target <= 5 ms); the first
result in a new process with a warm compile cache (<= 250 ms); a guest -> host tool call whose
``call_tool`` reads a small real file (<= 2 ms); fuel's overhead on a CPU-bound snippet (<= 40 %).
Builds the guest if needed. Not collected by pytest, not asserted anywhere.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.sandbox import Limits, Sandbox  # noqa: E402 - after the path set-up
from wasm_guest.build import DEFAULT_OUT, ensure_built  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from figures import figure  # noqa: E402

CACHE = DEFAULT_OUT / "bench-cache"
CPU_BOUND = (
    "def f(n):\n    s = 0\n    for i in range(n):\n        s += i * i % 7\n    return s\nf(300000)"
)
CATALOG = [
    {
        "server": "filesystem",
        "name": "read_text_file",
        "description": "Read a file.",
        "required": ["path"],
        "properties": {"path": {"type": "string"}},
    }
]
FIRST_RESULT = (
    "import sys, time; t0 = time.perf_counter(); sys.path.insert(0, {root!r})\n"
    "from pathlib import Path\n"
    "from appliance.sandbox import Sandbox\n"
    "sandbox = Sandbox(Path({wasm!r}), cache_dir=Path({cache!r}))\n"
    "r = sandbox.run('1 + 1', lambda n, a: (True, ''), [])\n"
    "assert r.result == '2', r\n"
    "print(time.perf_counter() - t0)"
)
CPU_CHILD = (
    "import sys, json; sys.path.insert(0, {root!r})\n"
    "from pathlib import Path\n"
    "from appliance.sandbox import engine\n"
    "engine.ENGINE_SETTINGS['consume_fuel'] = {fuel!r}\n"
    "from appliance.sandbox import Sandbox\n"
    "s = Sandbox(Path({wasm!r}), cache_dir=Path({cache!r}))\n"
    "import time\n"
    "out = []\n"
    "for _ in range(5):\n"
    "    cpu = time.thread_time()\n"
    "    r = s.run({code!r}, lambda n, a: (True, ''), [])\n"
    "    out.append([time.thread_time() - cpu, r.fuel_used, r.duration_s])\n"
    "print(json.dumps(out))"
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def trivial(sandbox: Sandbox) -> tuple[float, float]:
    """Median wall time, and median CPU time of this thread (less disturbed by a busy machine)."""
    for _ in range(10):
        sandbox.run("1 + 1", lambda n, a: (True, ""), [])
    wall, cpu = [], []
    for _ in range(200):
        started, started_cpu = time.perf_counter(), time.thread_time()
        sandbox.run("1 + 1", lambda n, a: (True, ""), [])
        wall.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def first_result(wasm: Path, *, bytecode_cache: bool) -> tuple[float, float]:
    """Wall time of a fresh ``python -c``: start-up, imports, cache load, instantiate, run."""
    env = dict(os.environ)
    pycache = tempfile.mkdtemp(prefix="bench-pycache-")
    if bytecode_cache:  # as an installed application runs: compiled bytecode on disk
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    script = FIRST_RESULT.format(root=str(ROOT), wasm=str(wasm), cache=str(CACHE))
    wall, cpu = [], []
    for attempt in range(8):
        started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if attempt:  # the first run warms the bytecode cache
            wall.append(time.perf_counter() - started)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def tool_round_trip(sandbox: Sandbox) -> tuple[float, float]:
    """Median per call measured inside the guest, and the same with a no-op call_tool."""
    folder = Path(tempfile.mkdtemp(prefix="bench-files-"))
    (folder / "notes.md").write_text("a small file\n" * 10)

    def read_file(name: str, args_json: str) -> tuple[bool, str]:
        path = folder / json.loads(args_json)["path"]
        return True, path.read_text()

    code = (
        "import time\nts = []\nfor i in range(500):\n    t = time.perf_counter()\n"
        "    filesystem.read_text_file(path='notes.md')\n    ts.append(time.perf_counter() - t)\n"
        "sorted(ts)[len(ts) // 2]"
    )
    limits = Limits(max_tool_calls=10_000)
    with_read = float(sandbox.run(code, read_file, CATALOG, limits).result)
    no_op = float(sandbox.run(code, lambda n, a: (True, "x"), CATALOG, limits).result)
    return with_read, no_op


def _cpu_child(wasm: Path, fuel: bool) -> list[list[float]]:
    cache = DEFAULT_OUT / ("bench-cache" if fuel else "bench-cache-nofuel")
    script = CPU_CHILD.format(
        root=str(ROOT), wasm=str(wasm), cache=str(cache), code=CPU_BOUND, fuel=fuel
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def fuel_overhead(wasm: Path) -> tuple[float, float, float]:
    """Fuel on and off in alternating child processes (the engine setting is per process)."""
    on: list[list[float]] = []
    off: list[list[float]] = []
    for _ in range(3):
        on += _cpu_child(wasm, True)
        off += _cpu_child(wasm, False)
    rate = statistics.median(fuel / cpu for cpu, fuel, _ in on)
    return statistics.median(r[0] for r in on), statistics.median(r[0] for r in off), rate


def main() -> None:
    wasm = ensure_built()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    started = time.perf_counter()
    sandbox = Sandbox(wasm, cache_dir=CACHE)
    print(f"guest: {wasm} ({wasm.stat().st_size / 1e6:.1f} MB)")
    print(f"Sandbox() in this process (cold or warm cache): {_ms(time.perf_counter() - started)}")
    wall, cpu = trivial(sandbox)
    print(
        f"trivial snippet, warm Sandbox (median of 200): {_ms(wall)} wall, {_ms(cpu)} CPU [<= 5 ms]"
    )
    figure("sandbox trivial snippet, warm, median", wall * 1000, "ms", 5)
    for cached in (True, False):
        wall, cpu = first_result(wasm, bytecode_cache=cached)
        label = "bytecode cached" if cached else "no bytecode cache"
        print(
            f"first result, new process, warm cache, {label}: {_ms(wall)} wall, "
            f"{_ms(cpu)} CPU (user+sys){'  [<= 250 ms]' if cached else ''}"
        )
        if cached:
            figure("sandbox first result, new process", wall * 1000, "ms", 250)
    with_read, no_op = tool_round_trip(sandbox)
    print(
        f"tool call round trip with a real file read (median of 500): {_ms(with_read)}  [<= 2 ms]"
    )
    print(f"tool call round trip, no-op call_tool (median of 500):      {_ms(no_op)}")
    figure("sandbox tool call round trip with a read", with_read * 1000, "ms", 2)
    on, off, rate = fuel_overhead(wasm)
    print(
        f"CPU-bound snippet (CPU time): fuel on {_ms(on)}, fuel off {_ms(off)}, overhead "
        f"{(on / off - 1) * 100:.0f} %  [<= 40 %]"
    )
    figure("sandbox fuel overhead, CPU-bound", (on / off - 1) * 100, "%", 40)
    print(f"fuel rate: {rate / 1e9:.2f}e9 units per second of CPU-bound guest Python")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
