"""Figures for the filesystem server: start-to-initialized and trivial-call latency (medians).

Run: ``python tests/bench/bench_filesystem.py``. Not collected by pytest, nothing asserted.
Targets (issue 3): start-to-initialized <= 300 ms, trivial call <= 1 ms; the reference Node
server measured here: 310 ms and 0.5 ms. On a shared machine wall times follow the load, so the
child's CPU time for a start is printed too.

Start-to-initialized spawns ``python -m appliance.cli serve filesystem ROOT``, sends
``initialize`` and stops the clock at its answer (the same spawn as the host does). Call latency
is timed with the real SDK client (``ClientSession.call_tool``) and, to separate the server from
the client, with a bare JSON-RPC pipe.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
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
CALLS = 500


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        Path(root, "small.txt").write_text("hello\n")
        argv = serve_argv("filesystem", root)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, n={STARTS} starts, "
            f"{CALLS} calls each"
        )
        starts = started(argv, STARTS)
        for label, (times, cpu) in (
            ("python -c pass", python_pass(STARTS)),
            ("start-to-initialized (serve fs)", starts),
        ):
            print(f"{label:<36} {ms(times)}")
            print(f"{'  its CPU time (user+sys)':<36} {ms(cpu)}")
        small = {"path": "small.txt"}
        server = ["filesystem", root]
        rows = [
            (
                "raw pipe  list_allowed_directories",
                raw_calls(argv, "list_allowed_directories", {}, CALLS),
            ),
            ("raw pipe  read_text_file small", raw_calls(argv, "read_text_file", small, CALLS)),
            (
                "host client read_text_file small",
                asyncio.run(host_calls(server, "read_text_file", small, CALLS, warmup=20)),
            ),
            (
                "SDK client list_allowed_directories",
                asyncio.run(sdk_calls(server, "list_allowed_directories", {}, CALLS, warmup=20)),
            ),
            (
                "SDK client read_text_file small",
                asyncio.run(sdk_calls(server, "read_text_file", small, CALLS, warmup=20)),
            ),
        ]
        for label, times in rows:
            print(f"{label:<36} {ms(times)}")
        print(load_average())
        figure("filesystem start-to-initialized, median", median_ms(starts[0]), "ms", 300)
        host = dict(rows)["host client read_text_file small"]
        figure("filesystem read_text_file, host client, median", median_ms(host), "ms", 1)


if __name__ == "__main__":
    main()
