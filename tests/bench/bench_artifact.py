"""Start-up and size of the frozen appliance: ``python tests/bench/bench_artifact.py [--dist DIR]``.

Without ``--dist`` it builds first (packaging/build.py, several minutes). Prints: one-folder and
one-file ``--version`` (medians of wall time and of CPU time: on a loaded machine the wall time
includes waiting for a core), the one-file's first and second run, sizes (one-file, tarball,
unpacked), and ``serve filesystem`` from start to the ``initialize`` answer: one-folder, one-file
unpacking afresh, and one-file reusing a running parent's unpacked folder (which is what the
frozen app's servers get once the bootloader's ``_PYI_*`` variables are passed on to them, see
appliance/host/bundle.py).
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from appliance.host.bundle import BOOTLOADER_VARIABLES  # noqa: E402

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


_HOMES = tempfile.TemporaryDirectory(prefix="ic-bench-homes-")  # removed when the bench ends


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir(), "LANG": "C.UTF-8"}
    env["IRONCURTAIN_HOME"] = tempfile.mkdtemp(prefix="home-", dir=_HOMES.name)
    return {**env, **(extra or {})}


def timed_run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and its children) for one run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=_env(), check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def version_figures(binary: Path, runs: int) -> dict[str, float]:
    samples = [timed_run([str(binary), "--version"]) for _ in range(runs)]
    walls = [w for w, _ in samples]
    return {
        "first": walls[0],
        "second": walls[1],
        "median": statistics.median(walls),
        "cpu_median": statistics.median(c for _, c in samples),
    }


def serve_until_initialized(binary: Path, root: Path, extra: dict[str, str] | None = None):
    """Start ``serve filesystem``; return (seconds to the initialize answer, the process)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(binary), "serve", "filesystem", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(extra),
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write((json.dumps(_INIT) + "\n").encode())
    proc.stdin.flush()
    answer = json.loads(proc.stdout.readline())
    elapsed = time.perf_counter() - started
    if answer.get("id") != 1 or "result" not in answer:
        raise RuntimeError(f"serve filesystem answered {answer}")
    return elapsed, proc


def _stop(proc: subprocess.Popen) -> None:
    assert proc.stdin
    proc.stdin.close()
    proc.wait(timeout=30)


def _bootloader_env(parent: subprocess.Popen) -> dict[str, str]:
    """The _PYI_* variables the running one-file app (the parent's child process) sees."""
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
    for pid in children or [str(parent.pid)]:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        found = dict(e.decode().split("=", 1) for e in raw if e.startswith(b"_PYI_"))
        if found:  # exactly what appliance.host.bundle.child_environment() passes on
            return {k: v for k, v in found.items() if k in BOOTLOADER_VARIABLES}
    raise RuntimeError("the one-file app's process has no _PYI_ variables")


def serve_figures(onedir: Path, onefile: Path, runs: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ic-bench-root-"))
    figures: dict[str, list[float]] = {"onedir": [], "onefile_fresh": [], "onefile_reused": []}
    for _ in range(runs):
        for name, binary in (("onedir", onedir), ("onefile_fresh", onefile)):
            elapsed, proc = serve_until_initialized(binary, root)
            figures[name].append(elapsed)
            _stop(proc)
        _, parent = serve_until_initialized(onefile, root)
        inherited = _bootloader_env(parent)
        elapsed, child = serve_until_initialized(onefile, root, inherited)
        figures["onefile_reused"].append(elapsed)
        _stop(child)
        _stop(parent)
    return {name: statistics.median(values) for name, values in figures.items()}


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, help="a packaging/build.py output folder")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    dist = args.dist
    if dist is None:
        dist = Path(tempfile.mkdtemp(prefix="ic-bench-dist-"))
        subprocess.run([sys.executable, str(REPO / "packaging" / "build.py"), "--out", str(dist)])
    onedir = dist / "ironcurtain" / "ironcurtain"
    files = [p for p in dist.glob("ironcurtain-*") if p.is_file()]
    onefile = next(p for p in files if not p.name.endswith(".tar.gz"))
    tarball = next(dist.glob("ironcurtain-*.tar.gz"))
    print(f"machine load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    mb = 1e6
    one = version_figures(onedir, args.runs)
    print(f"one-folder --version: median {one['median']:.3f} s wall, {one['cpu_median']:.3f} s CPU")
    single = version_figures(onefile, args.runs)
    print(
        f"one-file   --version: median {single['median']:.3f} s wall, "
        f"{single['cpu_median']:.3f} s CPU; first run {single['first']:.3f} s, "
        f"second {single['second']:.3f} s"
    )
    print(f"one-file size:        {onefile.stat().st_size / mb:.1f} MB")
    print(f"tarball size:         {tarball.stat().st_size / mb:.1f} MB")
    print(f"unpacked size:        {folder_bytes(onedir.parent) / mb:.1f} MB (one-folder layout)")
    from figures import figure

    figure("artifact one-folder --version, median", one["median"], "s")
    figure("artifact one-file --version, median", single["median"], "s")
    serve = serve_figures(onedir, onefile, max(3, args.runs // 2))
    print(
        "serve filesystem to initialized (median): "
        f"one-folder {serve['onedir']:.3f} s, one-file unpacking {serve['onefile_fresh']:.3f} s, "
        f"one-file reusing the parent's folder {serve['onefile_reused']:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
