"""Issue 14's figures: `mcp-proxy` memory under a 1 GiB flood, and what the new input checks
cost on a call.

1. A real `ironcurtain mcp-proxy` gets --gib GiB of pipelined `write_file` calls as fast as the
   pipe takes them, without reading answers until the end: 8 MiB lines (escalated writes to
   ~/Documents, which wait for a human nobody is: they pile up as far as the bound lets them) and
   40 MiB lines (over the 16 MiB message cap, discarded as they are read). Its RSS is sampled
   throughout. The bound per connection: 16 MiB a message, 32 calls and 48 MiB of request lines
   in flight; over it, a JSON-RPC "Server busy" error. Target: the peak stays under
   baseline + 400 MiB whatever the flood's size (before the fix, 14 calls of 40 MiB took it
   from 71 to 688 MB: linear in the flood).
2. The checks issue 14 adds to a call's path (policy.safe_json.loads of the arguments instead of
   json.loads, and the chokepoint's audit-encodability check), timed on typical arguments.
   Target: <= 20 us added to the median call.

    uv run python tests/bench/bench_proxy_flood.py [--gib 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MiB = 1024 * 1024
RSS_TARGET_MIB = 400
CHECK_TARGET_US = 20.0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def flood(gib: float) -> tuple[float, float, int, int]:
    tmp = Path(tempfile.mkdtemp(prefix="ic-flood-"))
    (tmp / "sb").mkdir()
    (tmp / "home" / "Documents").mkdir(parents=True)
    (tmp / "home" / ".ic").mkdir()
    (tmp / "home" / ".ic" / "config.json").write_text('{"escalationTimeoutSeconds": 5}')
    env = dict(os.environ, HOME=str(tmp / "home"), IRONCURTAIN_HOME=str(tmp / "home" / ".ic"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "mcp-proxy", "--sandbox", str(tmp / "sb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "flood", "version": "1"}}}  # fmt: skip
    proc.stdin.write(json.dumps(init).encode() + b"\n")
    proc.stdin.flush()
    proc.stdout.readline()
    time.sleep(1.0)
    baseline = _rss_mib(proc.pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib(proc.pid))
            time.sleep(0.02)

    replies: list[bytes] = []
    reader = threading.Thread(target=lambda: replies.extend(proc.stdout), daemon=True)
    reader.start()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent = 0
    request_id = 0
    while sent < gib * 1024 * MiB:
        request_id += 1
        size = 40 * MiB if request_id % 3 == 0 else 8 * MiB
        target = tmp / "home" / "Documents" / f"f{request_id}.txt"
        arguments = {"path": str(target), "content": ""}
        params = {"name": "filesystem__write_file", "arguments": arguments}
        head = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", **{
            "params": params}})  # fmt: skip
        head = head[: head.rindex('""') + 1].encode()
        proc.stdin.write(head + b"A" * size + b'"}}}\n')
        sent += size
    proc.stdin.flush()
    proc.stdin.close()
    proc.wait(300)
    done.set()
    sampler.join()
    reader.join(10)
    busy = sum(b'"code":-32000' in r for r in replies)
    return baseline, peak[0], request_id, busy


def check_cost(rounds: int = 20_000) -> tuple[float, float]:
    from appliance.chokepoint.audit import json_problem
    from policy.safe_json import loads

    text = json.dumps({"path": "/home/u/project/src/main.py", "content": "x" * 200, "head": 10})

    def median_us(fn) -> float:
        samples = []
        for _ in range(rounds):
            start = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - start)
        return statistics.median(samples) / 1000

    before = median_us(lambda: json.loads(text))
    after = median_us(lambda: json_problem(loads(text, max_bytes=16 * MiB)))
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    baseline, peak, calls, busy = flood(args.gib)
    grown = peak - baseline
    met = grown <= RSS_TARGET_MIB
    print(
        f"mcp-proxy RSS under a {args.gib:g} GiB flood ({calls} write_file calls, {busy} answered "
        f"'Server busy'): baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, grown {grown:.0f} MiB; "
        f"target <= {RSS_TARGET_MIB} MiB grown: {'met' if met else 'NOT met'}"
    )
    before, after = check_cost()
    added = after - before
    ok = added <= CHECK_TARGET_US
    print(
        f"input checks per call: json.loads {before:.1f} us -> safe_json + audit check "
        f"{after:.1f} us, added {added:.1f} us (median); target <= {CHECK_TARGET_US:g} us: "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if met and ok else 1


if __name__ == "__main__":
    sys.exit(main())
