"""Issue 15, against the live proxy (real mitmproxy, real TLS on loopback, the fake upstream) with
the session's real meter and a real audit log: budgets that hanging up or a burst cannot dodge
(F2, F3), every refusal audited (F4), the request target's authority checked (F5)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from credproxy_fakes import HOSTS, REAL_KEYS, raw_request

from appliance.chokepoint.audit import AuditLog
from appliance.credproxy import CredentialProxy, ProxyConfig
from appliance.docker.metering import UsageMeter
from appliance.session.budget import ResourceBudget

VECTORS = Path(__file__).parents[1] / "vectors" / "credproxy" / "authority.json"
CONNECT = "api.anthropic.com:443"


class Metered:
    def __init__(self, proxy: CredentialProxy, meter: UsageMeter, audit: AuditLog) -> None:
        self.proxy, self.meter, self.audit = proxy, meter, audit
        self.endpoints = proxy.endpoints
        self.fake = proxy.fake_keys["anthropic"]

    def records(self) -> list[dict]:
        lines = self.audit.path.read_text().splitlines()
        return [json.loads(line) for line in lines[1:]]


@pytest.fixture
def metered(request, upstream, pki, ca_dir, tmp_path):
    limits = getattr(request, "param", ResourceBudget())
    meter = UsageMeter(limits, price=lambda *_: None, warn=lambda _: None)
    audit = AuditLog.create(tmp_path / "audit.jsonl", "s1", {}, [], "digest")
    meter.attach_audit(audit)
    config = ProxyConfig(
        real_keys=REAL_KEYS, providers=("anthropic",), confdir=ca_dir, extra_upstream_ca=pki[0],
        upstream_overrides={h: ("127.0.0.1", upstream.port) for h in HOSTS},
    )  # fmt: skip
    proxy = CredentialProxy(
        config, meter.on_event, budget_check=meter.refusal, budget_admit=meter.admit
    )
    proxy.start()
    yield Metered(proxy, meter, audit)
    proxy.stop()
    meter.close()
    audit.close()


def head(target: str, fake: str, host: str = "api.anthropic.com") -> bytes:
    return (f"POST {target} HTTP/1.1\r\nhost: {host}\r\nx-api-key: {fake}\r\n"
            "content-type: application/json\r\n").encode()  # fmt: skip


def body(max_tokens: int, pad: int = 0) -> bytes:
    return json.dumps({"model": "m", "max_tokens": max_tokens, "pad": "x" * pad}).encode()


# F5: the authority in an absolute-form target must be the tunnel's host.
def authority_cases() -> list[dict]:
    return json.loads(VECTORS.read_text())["cases"]


@pytest.mark.parametrize("case", authority_cases(), ids=lambda c: c["id"])
def test_request_target_authority_must_be_the_tunnel_host(metered, upstream, case) -> None:
    answer = raw_request(
        metered.endpoints.tcp_port, metered.endpoints.ca_cert_pem_path, CONNECT,
        head(case["target"], metered.fake, case.get("host", "api.anthropic.com")), body(10),
    )  # fmt: skip
    assert answer.status == case["expect_status"], case["description"]
    if case["expect_status"] == 200:
        (seen,) = upstream.seen
        assert seen.path == "/v1/messages" and seen.headers["x-api-key"] == [REAL_KEYS["anthropic"]]
    else:
        assert upstream.seen == []
        rules = [r["rule"] for r in metered.records() if r["type"] == "proxy"]
        assert rules == ([case["expect_rule"]] if case["expect_rule"] else [])


# F4: every refusal is an audit record, redacted; the summary counts them.
def test_every_refusal_is_an_audit_record_without_the_keys(metered, upstream) -> None:
    port, ca = metered.endpoints.tcp_port, metered.endpoints.ca_cert_pem_path
    other = "sk-ant-api03-" + "q" * 93 + "AA"
    assert raw_request(port, ca, "evil.example:443", b"").status == 403
    assert raw_request(port, ca, CONNECT, head("/v1/messages", other), body(5)).status == 403
    assert raw_request(port, ca, CONNECT, head("/v1/files", metered.fake), body(5)).status == 403
    assert upstream.seen == []
    records = [r for r in metered.records() if r["type"] == "proxy"]
    assert [(r["event"], r["rule"]) for r in records] == [
        ("denied", "host-not-allowed"),
        ("denied", "key-mismatch"),
        ("denied", "route-not-allowed"),
    ]
    text = metered.audit.path.read_text()
    assert other not in text and metered.fake not in text and REAL_KEYS["anthropic"] not in text
    events = metered.meter.summary()["events"]
    assert events["denied:key-mismatch"] == 1 and events["denied:host-not-allowed"] == 1


# F3: 60 requests at once against 500 tokens: reservations keep the upstream's bill under it.
@pytest.mark.parametrize("metered", [ResourceBudget(max_total_tokens=500)], indirect=True)
def test_a_burst_of_parallel_requests_cannot_overshoot_the_token_budget(metered, upstream) -> None:
    upstream.delay = 1.0
    upstream.json_body = {**upstream.json_body, "usage": {"input_tokens": 70, "output_tokens": 50}}
    port, ca = metered.endpoints.tcp_port, metered.endpoints.ca_cert_pem_path

    def one(_: int) -> int | None:
        request = head("/v1/messages", metered.fake)
        return raw_request(port, ca, CONNECT, request, body(60, pad=150)).status

    with ThreadPoolExecutor(60) as pool:
        statuses = list(pool.map(one, range(60)))
    served = len(upstream.seen)
    assert statuses.count(200) == served and served >= 1
    billed = served * 120
    assert billed <= 500, f"the upstream served {served} requests ({billed} tokens)"
    assert metered.meter.budget.tokens == billed  # reconciled with the reported usage
    assert statuses.count(403) == 60 - served


# F2: hanging up before the final event does not make a stream free.
@pytest.mark.parametrize("metered", [ResourceBudget(max_total_tokens=120_000)], indirect=True)
def test_a_stream_cut_before_its_end_is_charged(metered, upstream) -> None:
    start = {"type": "message_start", "message": {"model": "m", "usage": {
        "input_tokens": 50_000, "output_tokens": 1}}}  # fmt: skip
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}
    end = {"type": "message_delta", "usage": {"output_tokens": 900}}
    upstream.sse_events = [f"data: {json.dumps(e)}\n\n".encode() for e in (start, delta, end)]
    released = threading.Event()
    upstream.sse_gates = [threading.Event(), released]
    upstream.sse_gates[0].set()
    statuses = []
    for _ in range(8):
        statuses.append(read_part_and_hang_up(metered, body(1000, pad=200_000)))
        wait_for(lambda: metered.meter.summary()["inFlight"] == 0)
    released.set()
    served = len(upstream.seen)
    assert statuses.count(200) == served == 1, statuses
    # input as the provider reported it, output as reserved: never less than reading to the end
    assert metered.meter.budget.tokens >= 50_000 + 1000
    cut = [r for r in metered.records() if r["type"] == "proxy" and r["event"] == "cut"]
    assert len(cut) == 1


def read_part_and_hang_up(metered: Metered, payload: bytes) -> int | None:
    sock = socket.create_connection(("127.0.0.1", metered.endpoints.tcp_port), timeout=10)
    try:
        sock.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % ((CONNECT.encode(),) * 2))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(metered.endpoints.ca_cert_pem_path))
        tls = context.wrap_socket(sock, server_hostname="api.anthropic.com")
        tls.sendall(head("/v1/messages", metered.fake) + b"content-length: %d\r\n\r\n" %
                    len(payload) + payload)  # fmt: skip
        seen = b""
        while b"text_delta" not in seen and b"\r\n\r\n{" not in seen:
            chunk = tls.recv(65536)
            if not chunk:
                break
            seen += chunk
        return int(seen.split(b" ", 2)[1]) if seen.startswith(b"HTTP/1.1") else None
    finally:
        sock.close()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# Found by the fuzz: control characters in header values.
def header_cases() -> list[dict]:
    path = VECTORS.parent / "header_controls.json"
    return json.loads(path.read_text())["cases"]


@pytest.mark.parametrize("case", header_cases(), ids=lambda c: c["id"])
def test_headers_with_control_characters_are_refused(metered, upstream, case) -> None:
    request = head("/v1/messages", metered.fake) + case["header"].encode("latin-1") + b"\r\n"
    answer = raw_request(metered.endpoints.tcp_port, metered.endpoints.ca_cert_pem_path,
                         CONNECT, request, body(10))  # fmt: skip
    assert answer.status == case["expect_status"]
    if case["expect_rule"]:
        assert upstream.seen == []
        assert [r["rule"] for r in metered.records()] == [case["expect_rule"]]
    else:
        assert upstream.seen[0].headers["x-api-key"] == [REAL_KEYS["anthropic"]]


def test_a_tunnel_named_in_capitals_with_a_trailing_dot_reaches_the_same_upstream(
    metered, upstream
) -> None:
    """F11: such a CONNECT passed the gate but missed the upstream override (a real DNS lookup)."""
    answer = raw_request(
        metered.endpoints.tcp_port, metered.endpoints.ca_cert_pem_path, "API.Anthropic.COM.:443",
        head("/v1/messages", metered.fake), body(10), sni="api.anthropic.com",
    )  # fmt: skip
    assert answer.status == 200 and len(upstream.seen) == 1
