"""Credential proxy memory under request bodies the agent holds open (issue: in-flight bodies).

A real credential proxy (mitmproxy, real TLS, a fake api.anthropic.com on loopback) runs in a
child process; this process opens ``--connections`` connections through the proxy's Unix socket
(the container's only road: at most 64 at once), each sends a POST whose body is
``--mib`` MiB, all but the last KiB of it, then holds. The proxy's RSS is sampled the whole
time; the held peak, and the RSS after every connection was dropped mid-body, are printed.

Shapes (``--shape``): ``length`` (Content-Length declared), ``chunked`` (no length),
``denied`` (Content-Length, a wrong key: refused at the headers), ``lie`` (declares 10 bytes,
then sends the whole body anyway, on a provider that takes its time to answer).

    uv run python tests/bench/bench_proxy_bodies.py [--connections 64] [--mib 31] [--shape length]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "credproxy"), str(Path(__file__).parent)]

MiB = 1024 * 1024
CHUNK = 256 * 1024


def serve() -> None:
    """The child: a fake upstream and a real proxy; prints its endpoints, waits for stdin's end."""
    from credproxy_fakes import HOSTS, REAL_KEYS, make_test_pki, serve_upstream

    from appliance.credproxy import CredentialProxy, ProxyConfig

    tmp = Path(tempfile.mkdtemp(prefix="ic-bodies-"))
    pki = make_test_pki(tmp)
    upstream, _server = serve_upstream(pki[1], pki[2])
    upstream.delay = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0"))
    config = ProxyConfig(
        real_keys=REAL_KEYS,
        providers=("anthropic",),
        upstream_overrides={h: ("127.0.0.1", upstream.port) for h in HOSTS},
        extra_upstream_ca=pki[0],
        confdir=tmp / "ca",
    )
    proxy = CredentialProxy(config, lambda event: None)
    endpoints = proxy.start()
    print(json.dumps({
        "socket": str(endpoints.unix_socket_path), "ca": str(endpoints.ca_cert_pem_path),
        "key": proxy.fake_keys["anthropic"],
        "budget": getattr(config, "max_inflight_body_bytes", None),
    }), flush=True)  # fmt: skip
    sys.stdin.read()
    proxy.stop()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_tunnel(socket_path: str, ca: str) -> ssl.SSLSocket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(120)
    sock.connect(socket_path)
    sock.sendall(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    context = ssl.create_default_context(cafile=ca)
    return context.wrap_socket(sock, server_hostname="api.anthropic.com")


def head_for(shape: str, key: str, size: int) -> bytes:
    lines = [
        "POST /v1/messages HTTP/1.1",
        "host: api.anthropic.com",
        "content-type: application/json",
        f"x-api-key: {key if shape != 'denied' else 'sk-ant-api03-wrong'}",
    ]
    if shape == "chunked":
        lines.append("transfer-encoding: chunked")
    elif shape == "lie":
        lines.append("content-length: 10")
    else:
        lines.append(f"content-length: {size}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sender(
    endpoints: dict, shape: str, size: int, held: threading.Barrier, release: threading.Event,
    outcome: list[str],
) -> None:  # fmt: skip
    try:
        tls = open_tunnel(endpoints["socket"], endpoints["ca"])
    except OSError as exc:
        outcome.append(f"no tunnel: {exc}")
        held.wait()
        return
    chunk = b"a" * CHUNK
    sent = 0
    try:
        if shape == "lie":
            tls.sendall(head_for(shape, endpoints["key"], size) + b'{"a": 1}\r\n')
        else:
            tls.sendall(head_for(shape, endpoints["key"], size))
        while sent < size - 1024:
            piece = chunk[: min(CHUNK, size - 1024 - sent)]
            tls.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if shape == "chunked" else piece)
            sent += len(piece)
        outcome.append("held")
    except OSError as exc:
        outcome.append(f"cut after {sent // MiB} MiB: {type(exc).__name__}")
    held.wait()
    release.wait()
    tls.close()  # aborted mid-body


def run(connections: int, mib: float, shape: str) -> dict:
    env = dict(os.environ, BENCH_UPSTREAM_DELAY="60" if shape == "lie" else "0")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    endpoints = json.loads(child.stdout.readline())
    time.sleep(1.0)
    baseline = rss_mib(child.pid)
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(child.pid))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    held = threading.Barrier(connections + 1)
    release = threading.Event()
    outcome: list[str] = []
    size = int(mib * MiB)
    started = time.monotonic()
    threads = [
        threading.Thread(target=sender, args=(endpoints, shape, size, held, release, outcome))
        for _ in range(connections)
    ]
    for t in threads:
        t.start()
    held.wait()
    time.sleep(2.0)  # let the proxy read what is in flight
    held_rss = rss_mib(child.pid)
    seconds = time.monotonic() - started
    release.set()
    for t in threads:
        t.join()
    time.sleep(3.0)
    after = rss_mib(child.pid)
    stop.set()
    child.stdin.close()
    child.wait(30)
    return {
        "shape": shape, "connections": connections, "body_mib": mib,
        "budget": endpoints["budget"], "baseline_mib": round(baseline),
        "held_mib": round(held_rss), "peak_mib": round(peak[0]),
        "grown_mib": round(peak[0] - baseline), "after_abort_mib": round(after),
        "seconds": round(seconds, 1),
        "outcomes": {o: outcome.count(o) for o in sorted(set(outcome))},
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mib", type=float, default=31.0)
    parser.add_argument("--shape", choices=("length", "chunked", "denied", "lie"), default="length")
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    result = run(args.connections, args.mib, args.shape)
    print(json.dumps(result))
    from figures import figure  # tests/bench/, beside this file

    # the in-flight budget (128 MiB) and the proxy's own working memory beside it
    figure(
        f"credential proxy RSS growth, {args.connections} held {args.mib:g} MiB bodies "
        f"({args.shape})",
        result["grown_mib"],
        "MiB",
        256.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
