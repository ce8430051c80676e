"""Credential proxy: added latency per request on a kept-alive connection (target <= 3 ms).

Run: python tests/bench/bench_proxy.py [N]. A fake api.anthropic.com on loopback (real TLS, its
own CA) is timed directly and through the proxy, both with one kept-alive httpx client, median
over N (default 200) requests after a warm-up; also through the container relay (node) and the
Unix socket when node is installed. Prints the mitmproxy import time measured in a fresh process.
"""

from __future__ import annotations

import os
import shutil
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


def timed(send, n: int) -> list[float]:
    for _ in range(WARMUP):
        send()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        send()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


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
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    os.environ["IRONCURTAIN_HOME"] = str(work / "home")
    pki = make_test_pki(work)
    upstream, server = serve_upstream(pki[1], pki[2])
    print(f"mitmproxy + engine import (fresh process): {import_time():.0f} ms")
    config = ProxyConfig(
        real_keys=REAL_KEYS,
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
    fake = {"x-api-key": proxy.fake_keys["anthropic"]}
    print(f"requests: {n} timed after {WARMUP} warm-up, one kept-alive connection each")
    try:
        direct_ctx = ssl.create_default_context(cafile=str(pki[0]))
        url = f"https://127.0.0.1:{upstream.port}/v1/messages"
        with httpx.Client(verify=direct_ctx, trust_env=False) as c:
            ext = {"sni_hostname": "api.anthropic.com"}
            hdrs = {"host": "api.anthropic.com", **fake}
            direct = line(
                "direct to fake upstream",
                timed(lambda: c.post(url, json=body, headers=hdrs, extensions=ext), n),
            )
        proxy_ctx = ssl.create_default_context(cafile=str(endpoints.ca_cert_pem_path))
        target = "https://api.anthropic.com/v1/messages"
        with httpx.Client(
            proxy=f"http://127.0.0.1:{endpoints.tcp_port}", verify=proxy_ctx, trust_env=False
        ) as c:
            via = line(
                "through proxy (TCP port)",
                timed(lambda: c.post(target, json=body, headers=fake), n),
            )
        print(f"  added latency (median, TCP port): {via - direct:.2f} ms  (target <= 3 ms)")
        if shutil.which("node"):
            relay_js = ROOT / "appliance" / "credproxy" / "container_relay.mjs"
            relay = subprocess.Popen(
                ["node", str(relay_js), str(endpoints.unix_socket_path), "0"],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                port = int(relay.stdout.readline())
                with httpx.Client(
                    proxy=f"http://127.0.0.1:{port}", verify=proxy_ctx, trust_env=False
                ) as c:
                    uds = line(
                        "via node relay + Unix socket",
                        timed(lambda: c.post(target, json=body, headers=fake), n),
                    )
                print(f"  added latency (median, container path): {uds - direct:.2f} ms")
            finally:
                relay.terminate()
                relay.wait(5)
        forwarded = sum(1 for e in events if e.kind == "forwarded")
        print(
            f"events: {forwarded} forwarded, {len(events)} total; upstream saw {len(upstream.seen)}"
        )
    finally:
        proxy.stop()
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
