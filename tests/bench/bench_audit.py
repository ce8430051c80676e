"""Audit log and redaction figures: ``python tests/bench/bench_audit.py``.

Prints the cost the chokepoint pays per call for these parts: redacting the arguments, and one
durable audit append (through the log's journal, and with fdatasync as where there is none);
then verify throughput and a file-channel escalation round trip.
Not collected by pytest, not asserted anywhere.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))


import anyio

from appliance.chokepoint.audit import AuditLog, verify_file
from appliance.chokepoint.audit.journal import journal_path
from appliance.chokepoint.escalation import EscalationRequest, FileChannel, call_digest
from appliance.chokepoint.escalation.files import response_path, write_atomic
from appliance.chokepoint.redact import redact

ARGS = {"path": "/home/user/project/src/main.py", "content": "print('hello world')\n" * 20}
ENTRY = {
    "server": "filesystem",
    "tool": "write_file",
    "arguments": ARGS,
    "decision": "allow",
    "rule": "sandbox-containment",
    "reason": "inside the session sandbox",
    "escalation": None,
    "durationMs": 0.4,
    "status": "ok",
    "policyDigest": "p" * 64,
}


def figures(name: str, samples_s: list[float]) -> None:
    from figures import figure

    ordered = sorted(samples_s)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<44} n={len(ordered):<5} median {statistics.median(ordered) * 1e6:8.1f} us"
        f"   p99 {p99 * 1e6:8.1f} us"
    )
    figure(f"audit: {name}, median", statistics.median(ordered) * 1e6, "us")


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_channel(directory: Path, n: int) -> list[float]:
    channel = FileChannel(directory, timeout_s=10, poll_s=0.005)
    stop = threading.Event()

    def responder() -> None:  # a stand-in listener answering as fast as it can
        answered: set[str] = set()
        while not stop.is_set():
            for path in directory.glob("request-*.json"):
                try:
                    request = EscalationRequest.model_validate_json(path.read_bytes())
                except FileNotFoundError:
                    continue  # answered and withdrawn between the glob and the read
                if request.id in answered:
                    continue
                answer = (
                    f'{{"id": "{request.id}", "decision": "approve", '
                    f'"callDigest": "{request.call_digest}"}}'
                )
                write_atomic(response_path(directory, request.id), answer)
                answered.add(request.id)
            time.sleep(0.001)

    thread = threading.Thread(target=responder, daemon=True)
    thread.start()
    samples = []

    async def run() -> None:
        for i in range(n):
            request = EscalationRequest(
                id=f"b{i}", session_id="bench", server="filesystem", tool="write_file",
                arguments=ARGS, reason="bench", rule="bench",
                call_digest=call_digest("filesystem", "write_file", ARGS, "p"), policy_digest="p",
            )  # fmt: skip
            started = time.perf_counter()
            verdict = await channel.ask(request)
            samples.append(time.perf_counter() - started)
            assert verdict.approved

    anyio.run(run)
    stop.set()
    thread.join()
    return samples


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=os.environ.get("BENCH_DIR")))
    print(f"audit log folder: {base} ({os.statvfs(base).f_bsize} B blocks)")
    figures("redact(arguments) typical write_file call", timed(lambda: redact(ARGS), 5000))
    # Where the filesystem takes direct I/O a record is durable by one write to the log's
    # journal; elsewhere by fdatasync. Both are shown: the second as on macOS or a network
    # filesystem (the journal turned off by taking the O_DIRECT flag away).
    direct = getattr(os, "O_DIRECT", None)
    if direct is not None:
        del os.O_DIRECT
        plain = AuditLog.create(base / "plain" / "audit.jsonl", "bench", {}, [], "p" * 64)
        os.O_DIRECT = direct
        figures("AuditLog.append (write + fdatasync)", timed(lambda: plain.append(ENTRY), 1000))
        plain.close()
    log = AuditLog.create(base / "audit.jsonl", "bench", {}, [], "p" * 64)
    how = "write + journal" if journal_path(log.path).exists() else "write + fdatasync"
    figures(f"AuditLog.append ({how})", timed(lambda: log.append(ENTRY), 1000))
    figures(
        "redact + AuditLog.append (what a call adds)",
        timed(lambda: log.append({**ENTRY, "arguments": redact(ARGS)}), 1000),
    )
    started = time.perf_counter()
    workers = [
        threading.Thread(target=lambda: [log.append(ENTRY) for _ in range(100)]) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    per_call = (time.perf_counter() - started) / 800
    print(
        f"{'8 threads x 100 appends (group commit)':<44} "
        f"wall time per append {per_call * 1e6:8.1f} us"
    )
    log.close()
    started = time.perf_counter()
    result = verify_file(base / "audit.jsonl")
    elapsed = time.perf_counter() - started
    print(f"verify_file: {result.entries} entries in {elapsed * 1000:.1f} ms (ok={result.ok})")
    figures("FileChannel.ask round trip (auto-answered)", bench_channel(base / "esc", 100))
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
