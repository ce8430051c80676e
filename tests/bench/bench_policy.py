"""Policy engine figures: decisions per second, p50/p99 per decision, and the --batch wall time.

Run: ``python tests/bench/bench_policy.py``. The mix uses the shipped default policy, a real
sandbox on disk and the real resolver (paths inside and outside the sandbox, symlinks, URLs,
git calls). Not collected by pytest; nothing here is asserted.
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

from appliance.config.paths import AppPaths  # noqa: E402 -- after the path set-up above
from policy.engine import evaluate  # noqa: E402
from policy.loader import default_policy_dir, load_policy  # noqa: E402
from policy.models import EvalContext, ToolCall  # noqa: E402


def mix(sandbox: Path, home: Path) -> list[tuple[str, ToolCall]]:
    s = str(sandbox)
    calls = [
        ("fs read in sandbox", "filesystem", "read_text_file", {"path": f"{s}/src/main.py"}),
        (
            "fs write in sandbox",
            "filesystem",
            "write_file",
            {"path": f"{s}/out/new.md", "content": "x"},
        ),
        ("fs read outside", "filesystem", "read_text_file", {"path": "/etc/hostname"}),
        ("fs read Documents", "filesystem", "read_text_file", {"path": "~/Documents/notes.txt"}),
        (
            "fs move in sandbox",
            "filesystem",
            "move_file",
            {"source": f"{s}/a.txt", "destination": f"{s}/b.txt"},
        ),
        ("fs traversal", "filesystem", "read_text_file", {"path": f"{s}/../../etc/passwd"}),
        ("fs via symlink", "filesystem", "read_text_file", {"path": f"{s}/link/file"}),
        (
            "fs protected",
            "filesystem",
            "read_text_file",
            {"path": f"{home}/.ironcurtain/config.json"},
        ),
        ("fs list dirs", "filesystem", "list_allowed_directories", {}),
        (
            "fetch dev site",
            "fetch",
            "http_fetch",
            {"url": "https://docs.python.org/3/library/os.html"},
        ),
        ("fetch other", "fetch", "http_fetch", {"url": "https://example.org/page?q=1"}),
        ("fetch ip literal", "fetch", "http_fetch", {"url": "http://169.254.169.254/latest/"}),
        ("web search", "fetch", "web_search", {"query": "pydantic frozen models"}),
        ("git status", "git", "git_status", {"path": f"{s}/repo"}),
        ("git commit", "git", "git_commit", {"path": f"{s}/repo", "message": "Add figures"}),
        (
            "git push",
            "git",
            "git_push",
            {"path": f"{s}/repo", "remote": "https://github.com/a/b.git", "branch": "main"},
        ),
    ]
    return [(label, ToolCall(server=sv, tool=t, arguments=a)) for label, sv, t, a in calls]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def in_process(workdir: Path, rounds: int = 2000) -> None:
    home, sandbox = workdir / "home", workdir / "home/.ironcurtain/sessions/s1/sandbox"
    for folder in (sandbox / "src", sandbox / "repo", home / "Documents", workdir / "elsewhere"):
        folder.mkdir(parents=True, exist_ok=True)
    (sandbox / "link").symlink_to(workdir / "elsewhere")
    ic = home / ".ironcurtain"
    context = EvalContext(
        sandbox=str(sandbox),
        protected_patterns=AppPaths(home=ic, cache=ic / "cache").protected_patterns(),
        home=str(home),
    )
    policy = load_policy(default_policy_dir())
    calls = mix(sandbox, home)
    for _, call in calls * 50:  # warm-up: context memo, caches, branch predictors
        evaluate(call, policy, context)
    per_label: dict[str, list[float]] = {label: [] for label, _ in calls}
    samples: list[float] = []
    cpu: list[float] = []
    clock, thread = time.perf_counter_ns, time.thread_time_ns
    start = clock()
    for _ in range(rounds):
        for label, call in calls:
            c0, t0 = thread(), clock()
            evaluate(call, policy, context)
            elapsed, used = (clock() - t0) / 1000, (thread() - c0) / 1000
            samples.append(elapsed)
            cpu.append(used)
            per_label[label].append(elapsed)
    total = (clock() - start) / 1e9
    print(f"in-process, shipped policy, {len(calls)}-call mix x {rounds} rounds")
    print(f"  decisions/s   {len(samples) / total:,.0f}")
    wall_p50, wall_p99 = statistics.median(samples), percentile(samples, 0.99)
    print(f"  wall  p50 {wall_p50:6.1f} µs   p99 {wall_p99:7.1f} µs")
    print(f"  cpu   p50 {statistics.median(cpu):6.1f} µs   p99 {percentile(cpu, 0.99):7.1f} µs")
    print("  (cpu = this thread's CPU time: what the decision costs when the machine is shared)")
    from figures import figure

    figure("policy decision, wall p50", wall_p50, "us")
    figure("policy decision, wall p99", wall_p99, "us")
    for label, values in per_label.items():
        median, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"    {label:<20} wall p50 {median:6.1f} µs   p99 {p99:7.1f} µs")


def calibration(workdir: Path, rounds: int = 20_000) -> None:
    """What this machine does per unit right now, to read the figures above against."""
    from policy.paths import lexical

    target = str(workdir / "home")
    stat = _median_us(lambda: os.stat(target), rounds)
    dumps = _median_us(lambda: json.dumps({"a": 1, "b": [1, 2]}), rounds)
    policy = load_policy(default_policy_dir())
    sandbox = workdir / "home/.ironcurtain/sessions/s1/sandbox"
    context = EvalContext(sandbox=str(sandbox), home=str(workdir / "home"), resolve_path=lexical)
    call = ToolCall(server="filesystem", tool="read_text_file", arguments={"path": "/etc/x"})
    engine = _median_us(lambda: evaluate(call, policy, context), rounds)
    print("calibration (medians)")
    print(f"  os.stat             {stat:6.2f} µs   (one path lookup in the kernel)")
    print(f"  json.dumps(small)   {dumps:6.2f} µs   (plain interpreter speed)")
    print(f"  read outside, no disk resolver {engine:6.2f} µs   (engine logic alone)")


def _median_us(action, rounds: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        t0 = clock()
        action()
        samples.append(clock() - t0)
    return statistics.median(samples) / 1000


def batch(workdir: Path, lines: int = 10_000) -> None:
    sandbox = workdir / "home/.ironcurtain/sessions/s1/sandbox"
    calls = [call for _, call in mix(sandbox, workdir / "home")]
    path = workdir / "calls.jsonl"
    with path.open("w") as out:
        for index in range(lines):
            call = calls[index % len(calls)]
            item = {"server": call.server, "tool": call.tool, "arguments": call.arguments}
            out.write(json.dumps(item) + "\n")
    env = {**os.environ, "IRONCURTAIN_HOME": str(workdir / "home/.ironcurtain")}
    command = [sys.executable, "-m", "appliance.cli", "policy", "check", "--batch", str(path)]
    command += ["--sandbox", str(sandbox)]
    print(f"policy check --batch, {lines:,} lines, start-up included (3 runs each)")
    # As the environment is (this one sets PYTHONDONTWRITEBYTECODE, so every start compiles
    # pydantic), then with byte code cached in a private folder, as an installed build runs.
    cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    subprocess.run(command, capture_output=True, env=cached, cwd=ROOT)  # fills the cache
    for label, run_env in (("as is", env), ("bytecode cached", cached)):
        walls, cpus = [], []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=run_env, cwd=ROOT)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if done.returncode != 0 or done.stdout.count("\n") != lines:
                print("  batch run failed:", done.returncode, done.stderr[-300:])
                return
        shown = ", ".join(f"{w:.2f}" for w in walls)
        cpu = ", ".join(f"{c:.2f}" for c in cpus)
        print(f"  {label:<16} wall {shown} s (best {min(walls):.2f} s)   cpu {cpu} s")
    start = [sys.executable, "-m", "appliance.cli", "policy", "check", "fetch", "web_search"]
    t0 = time.perf_counter()
    subprocess.run([*start, '{"query": "x"}'], capture_output=True, env=cached, cwd=ROOT)
    print(f"  one call, bytecode cached: {time.perf_counter() - t0:.2f} s wall")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp).resolve()
        in_process(workdir)
        calibration(workdir)
        batch(workdir)
    print(f"machine load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
