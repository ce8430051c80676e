"""Credential proxy: added latency per request on a kept-alive connection (target <= 3 ms).

Run: python tests/bench/bench_proxy.py [N] [--oauth]. A fake api.anthropic.com on loopback
(real TLS, its own CA) is timed directly and through the proxy, both with one kept-alive httpx
client, median over N (default 200) requests after a warm-up; also through the container relay
(node) and the Unix socket when node is installed. Prints the mitmproxy import time measured in
a fresh process. ``--oauth``: the same with a Claude subscription (the placeholder token swapped
for the real access token, which needs no refresh during the run) instead of an API key.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "credproxy")]

import httpx  # noqa: E402
from credproxy_fakes import HOSTS, REAL_KEYS, make_test_pki, serve_upstream  # noqa: E402

from appliance.credproxy import CredentialProxy, ProxyConfig  # noqa: E402

WARMUP = 20
# Like node's sockets (Claude Code): no Nagle. Without it, httpx's separate header and body
# writes wait on the receiver's delayed ACK and the figures measure the kernel, not the proxy.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def client(**kwargs) -> httpx.Client:
    transport = httpx.HTTPTransport(
        verify=kwargs.pop("verify"), proxy=kwargs.pop("proxy", None), socket_options=NODELAY
    )
    return httpx.Client(transport=transport, trust_env=False)


def rounds(clients: dict, sends: dict, n: int) -> dict[str, list[float]]:
    """Wall-clock milliseconds per request, per path."""
    wall: dict[str, list[float]] = {name: [] for name in clients}
    for i in range(WARMUP + n):
        for name, c in clients.items():
            start = time.perf_counter()
            response = sends[name](c)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{name}: HTTP {response.status_code}")
            if i >= WARMUP:
                wall[name].append(elapsed)
    return wall


def thread_cpu_seconds(proxy: CredentialProxy) -> float:
    tid = proxy._thread._thread.native_id  # the bench may look inside; the product never does
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def line(name: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10)[-1]
    print(f"  {name:<34} median {median:6.2f} ms   p90 {p90:6.2f} ms")
    return median


def import_time() -> float:
    code = "import time; t=time.perf_counter(); import appliance.credproxy.engine; print(time.perf_counter()-t)"  # noqa: E501
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(out.stdout.strip()) * 1000


def main() -> None:
    oauth = "--oauth" in sys.argv
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    n = int(numbers[0]) if numbers else 200
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    os.environ["IRONCURTAIN_HOME"] = str(work / "home")
    pki = make_test_pki(work)
    upstream, server = serve_upstream(pki[1], pki[2])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}")
    print(f"mitmproxy + engine import (fresh process): {import_time():.0f} ms")
    secret: dict = {"real_keys": REAL_KEYS}
    if oauth:
        credentials = work / "credentials.json"
        expires = int((time.time() + 3600) * 1000)
        credentials.write_text(json.dumps({"claudeAiOauth": {
            "accessToken": "sk-ant-oat01-bench-access-AA",
            "refreshToken": "sk-ant-ort01-bench-refresh", "expiresAt": expires,
        }}))  # fmt: skip
        keys = {k: v for k, v in REAL_KEYS.items() if k != "anthropic"}
        secret = {"real_keys": keys, "anthropic_oauth": credentials}
        print("credential: a Claude subscription (OAuth token swap)")
    config = ProxyConfig(
        **secret,
        upstream_overrides={h: ("127.0.0.1", upstream.port) for h in HOSTS},
        extra_upstream_ca=pki[0],
        confdir=work / "ca",
    )
    events: list = []
    proxy = CredentialProxy(config, events.append)
    import appliance.credproxy.engine  # noqa: F401 - so the start below is timed without it

    started = time.perf_counter()
    endpoints = proxy.start()
    print(
        f"proxy start (CA created, thread up, both listeners): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    body = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": []}
    placeholder = proxy.fake_keys["anthropic"]
    fake = {"authorization": f"Bearer {placeholder}"} if oauth else {"x-api-key": placeholder}
    print(f"requests: {n} rounds after {WARMUP} warm-up; each round sends one request on each")
    print("kept-alive client in turn, so all paths see the same machine load (paired medians)")
    relay = None
    try:
        direct_ctx = ssl.create_default_context(cafile=str(pki[0]))
        proxy_ctx = ssl.create_default_context(cafile=str(endpoints.ca_cert_pem_path))
        url = f"https://127.0.0.1:{upstream.port}/v1/messages"
        target = "https://api.anthropic.com/v1/messages"
        ext = {"sni_hostname": "api.anthropic.com"}
        hdrs = {"host": "api.anthropic.com", **fake}
        clients = {
            "direct to fake upstream": client(verify=direct_ctx),
            "through proxy (TCP port)": client(
                proxy=f"http://127.0.0.1:{endpoints.tcp_port}", verify=proxy_ctx
            ),
        }
        sends = {
            "direct to fake upstream": lambda c: c.post(
                url, json=body, headers=hdrs, extensions=ext
            ),
            "through proxy (TCP port)": lambda c: c.post(target, json=body, headers=fake),
        }
        if shutil.which("node"):
            relay_js = ROOT / "appliance" / "credproxy" / "container_relay.mjs"
            relay = subprocess.Popen(
                ["node", str(relay_js), str(endpoints.unix_socket_path), "0"],
                stdout=subprocess.PIPE,
                text=True,
            )
            port = int(relay.stdout.readline())
            name = "node relay + Unix socket + proxy"
            clients[name] = client(proxy=f"http://127.0.0.1:{port}", verify=proxy_ctx)
            sends[name] = sends["through proxy (TCP port)"]
        samples = rounds(clients, sends, n)
        direct = samples["direct to fake upstream"]
        for name, values in samples.items():
            line(name, values)
        for name, values in list(samples.items())[1:]:
            added = statistics.median(v - d for v, d in zip(values, direct, strict=True))
            print(f"  added latency, {name}: {added:.2f} ms (paired median; target <= 3 ms)")
            from figures import figure

            label = f"{name}, subscription" if oauth else name
            figure(f"credential proxy added latency, {label}", added, "ms", 3)
        # CPU is what the proxy costs whatever the load: the proxy thread's own CPU time (from
        # /proc, in clock ticks) over a run of requests on the TCP port alone.
        name = "through proxy (TCP port)"
        before = thread_cpu_seconds(proxy)
        for _ in range(n):
            sends[name](clients[name])
        spent = thread_cpu_seconds(proxy) - before
        print(f"  proxy thread CPU per request: {spent / n * 1000:.2f} ms (over {n} requests)")
        for c in clients.values():
            c.close()
        forwarded = sum(1 for e in events if e.kind == "forwarded")
        print(
            f"events: {forwarded} forwarded, {len(events)} total; upstream saw {len(upstream.seen)}"
        )
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(5)
        proxy.stop()
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
