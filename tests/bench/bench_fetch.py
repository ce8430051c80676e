"""Figures for the fetch server: `python tests/bench/bench_fetch.py` prints medians.

Start-to-initialized and calls are timed over raw stdio pipes (newline-delimited JSON-RPC, as the
host's client sends it) so the figure is the server's, not the SDK client's. The page fetched is
served by a local http.server on 127.0.0.1, so the server runs with --allow-private-addresses.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from stdio_bench import INIT  # noqa: E402 - the one initialize request every bench sends

PAGE = "<html><body>" + "".join(f"<p>para {n} <a href='/x{n}'>l</a></p>" for n in range(40))
PAGE = (PAGE + "</body></html>").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


def _spawn(flag: bool) -> subprocess.Popen:
    argv = [sys.executable, "-m", "appliance.cli", "serve", "fetch"]
    argv += ["--allow-private-addresses"] if flag else []
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
    )


def _ask(proc: subprocess.Popen, message: dict) -> dict:
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def start_to_initialized(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = _spawn(False)
        _ask(proc, INIT)
        times.append((time.perf_counter() - started) * 1000)
        proc.stdin.close()
        proc.wait()
    return times


def start_cpu_ms(runs: int) -> list[float]:
    """CPU (user+sys) a start-and-exit costs: steadier than wall time on a shared machine."""
    times = []
    for _ in range(runs):
        proc = _spawn(False)
        _ask(proc, INIT)
        proc.stdin.close()
        _pid, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        times.append((usage.ru_utime + usage.ru_stime) * 1000)
    return times


def calls(url: str, runs: int) -> tuple[float, list[float], list[float]]:
    proc = _spawn(True)
    _ask(proc, INIT)
    list_times, fetch_times = [], []
    call = {"name": "http_fetch", "arguments": {"url": url}}
    time.sleep(1.0)  # the server warms its HTTP client and converter in the background
    started = time.perf_counter()
    first = _ask(proc, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})
    first_ms = (time.perf_counter() - started) * 1000
    assert not first["result"]["isError"], first
    for n in range(runs):
        started = time.perf_counter()
        _ask(proc, {"jsonrpc": "2.0", "id": 100 + n, "method": "tools/list"})
        list_times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _ask(proc, {"jsonrpc": "2.0", "id": 1000 + n, "method": "tools/call", "params": call})
        fetch_times.append((time.perf_counter() - started) * 1000)
    proc.stdin.close()
    proc.wait()
    return first_ms, list_times, fetch_times


def check_url_us(runs: int) -> float:
    from servers.fetch.addresses import check_url

    resolver = lambda host, port, timeout: ["93.184.215.14"]  # noqa: E731 - fixed answer, no DNS
    started = time.perf_counter()
    for _ in range(runs):
        check_url("https://example.com/a/b?q=1", resolver, False, 5.0)
    return (time.perf_counter() - started) / runs * 1e6


def convert_ms(runs: int) -> tuple[int, float]:
    from servers.fetch.convert import render

    big = PAGE * 25  # ~100 KB of HTML
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        render(big, "text/html", "markdown", "http://example.com/")
        times.append((time.perf_counter() - started) * 1000)
    return len(big), statistics.median(times)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/page"
    start = start_to_initialized(15)
    cpu = start_cpu_ms(10)
    first, lists, fetches = calls(url, 50)
    size, convert = convert_ms(5)
    print(
        f"fetch server start-to-initialized: median {statistics.median(start):.0f} ms "
        f"(min {min(start):.0f}, max {max(start):.0f}, n={len(start)}; target <= 300 ms)"
    )
    print(
        f"  (CPU per start-to-initialized-and-exit: median {statistics.median(cpu):.0f} ms; "
        f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"tools/list round trip:            median {statistics.median(lists):.2f} ms "
        f"(n={len(lists)})"
    )
    print(f"first http_fetch, 1 s after start:{first:.0f} ms")
    print(
        f"http_fetch of a {len(PAGE)} B local page: median {statistics.median(fetches):.2f} ms "
        f"(p90 {sorted(fetches)[int(len(fetches) * 0.9)]:.2f}, n={len(fetches)})"
    )
    print(f"check_url (parse + resolve stub + address checks): {check_url_us(2000):.1f} us")
    print(f"HTML -> markdown of {size // 1024} KiB: median {convert:.1f} ms")
    from figures import figure

    figure("fetch start-to-initialized, median", statistics.median(start), "ms", 300)
    figure("fetch http_fetch of a local page, median", statistics.median(fetches), "ms")
    server.shutdown()


if __name__ == "__main__":
    main()
