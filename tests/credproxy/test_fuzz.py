"""Issue 15: a bounded fuzz of the live proxy (loopback only) with malformed and hostile HTTP/1.1
and HTTP/2, and the Unix socket's connection cap and first-byte timeout (F9).

Whatever arrives, the invariants hold: nothing but an allowed route reaches the upstream, and
only with the real key in place of the issued fake; the proxy stays alive and still serves a
good request afterwards. The seed is fixed, so a failure replays."""

from __future__ import annotations

import random
import select
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
from credproxy_fakes import REAL_KEYS

from appliance.credproxy.relay import FIRST_BYTE_SECONDS, MAX_CONNECTIONS

CONNECT = b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n"
CASES = 120


def tunnel(running, alpn: list[str] | None = None, timeout: float = 3.0) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", running.endpoints.tcp_port), timeout=timeout)
    sock.sendall(CONNECT)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context(cafile=str(running.endpoints.ca_cert_pem_path))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context.wrap_socket(sock, server_hostname="api.anthropic.com")


def exchange(running, data: bytes) -> bytes:
    """Send `data` in the tunnel; whatever comes back within the timeout (b"": cut)."""
    stream = tunnel(running)
    try:
        stream.sendall(data)
        answer = b""
        while len(answer) < 65536:
            try:
                chunk = stream.recv(65536)
            except (TimeoutError, ssl.SSLError, OSError):
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        return answer
    finally:
        stream.close()


def valid(fake: str, body: bytes = b'{"max_tokens": 5}') -> list[bytes]:
    return [b"POST /v1/messages HTTP/1.1", b"host: api.anthropic.com",
            b"x-api-key: " + fake.encode(), b"content-type: application/json",
            b"content-length: %d" % len(body), b"", body]  # fmt: skip


HOSTILE_LINES = [
    b"POST https://evil.example/v1/messages HTTP/1.1", b"POST //evil.example/v1/messages HTTP/1.1",
    b"POST /v1/messages/../files HTTP/1.1", b"POST /v1/%2e%2e/files HTTP/1.1",
    b"POST /v1/messages HTTP/1.0", b"POST /v1/messages HTTP/2.0", b"PRI * HTTP/2.0",
    b"GET /v1/messages HTTP/1.1", b"POST /v1\\messages HTTP/1.1", b"POST /v1/messages\x00 HTTP/1.1",
    b"POST  /v1/messages  HTTP/1.1", b"POST http://api.anthropic.com:80/v1/messages HTTP/1.1",
]  # fmt: skip
HOSTILE_HEADERS = [
    b"host: evil.example", b"host: api.anthropic.com:8443", b"Host: API.ANTHROPIC.COM.",
    b"x-api-key: sk-ant-api03-other", b"authorization: Bearer sk-ant-api03-other",
    b"transfer-encoding: chunked", b"transfer-encoding: identity, chunked",
    b"content-length: 1, 2", b"x-evil: a\rb", b" folded: continuation", b"x-nul: \x00",
    b"upgrade: h2c", b"connection: upgrade", b"x-long: " + b"a" * 70000, b":authority: evil",
    b"content-encoding: gzip", b"expect: 100-continue", b"proxy-authorization: Basic eA==",
]  # fmt: skip


def mutate(rng: random.Random, fake: str) -> bytes:
    lines = valid(fake)
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.25:
            lines[0] = rng.choice(HOSTILE_LINES)
        elif choice < 0.6:
            lines.insert(rng.randint(1, 4), rng.choice(HOSTILE_HEADERS))
        elif choice < 0.75:
            del lines[rng.randint(1, 4)]
        else:
            raw = bytearray(b"\r\n".join(lines))
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            return bytes(raw)
    return b"\r\n".join(lines)


def test_hostile_http1_requests_never_reach_upstream_unchecked(running, upstream) -> None:
    fake = running.proxy.fake_keys["anthropic"]
    rng = random.Random(15)
    started = time.monotonic()
    statuses: set[bytes] = set()
    for _ in range(CASES):
        answer = exchange(running, mutate(rng, fake))
        statuses.add(answer[9:12] if answer.startswith(b"HTTP/1.1 ") else b"cut")
    assert time.monotonic() - started < 240, "the fuzz is bounded"
    for seen in upstream.seen:  # the invariants, for everything that did go upstream
        assert seen.method == "POST" and seen.path.split("?")[0] == "/v1/messages", seen.path
        assert seen.headers["x-api-key"] == [REAL_KEYS["anthropic"]]
        assert seen.headers["host"] == ["api.anthropic.com"]
        assert fake not in repr(seen.headers) and "authorization" not in seen.headers
    assert (
        statuses - {b"100", b"200", b"400", b"403", b"413", b"431", b"501", b"502", b"cut"} == set()
    )
    assert b"403" in statuses and b"400" in statuses  # the fuzz did reach both layers
    assert exchange(running, b"\r\n".join(valid(fake))).startswith(b"HTTP/1.1 200")


def test_http2_is_refused_and_cannot_name_another_authority(running, upstream) -> None:
    fake = running.proxy.fake_keys["anthropic"]
    stream = tunnel(running, alpn=["h2"])
    try:
        assert stream.selected_alpn_protocol() in (None, "http/1.1")  # h2 is never offered
        # The client library would refuse the mismatch itself: switch its checks off.
        config = h2.config.H2Configuration(validate_outbound_headers=False,
                                           normalize_outbound_headers=False)  # fmt: skip
        connection = h2.connection.H2Connection(config)
        connection.initiate_connection()
        headers = [(":method", "POST"), (":scheme", "https"), (":authority", "evil.example"),
                   (":path", "/v1/messages"), ("host", "api.anthropic.com"),
                   ("x-api-key", fake)]  # fmt: skip
        connection.send_headers(1, headers, end_stream=True)
        stream.sendall(connection.data_to_send())
        answer = b""
        try:
            while chunk := stream.recv(65536):
                answer += chunk
        except (TimeoutError, ssl.SSLError, OSError):
            pass
    finally:
        stream.close()
    assert not answer.startswith(b"HTTP/1.1 200")
    assert upstream.seen == []
    # h2 with prior knowledge, straight to the proxy port: no tunnel, no forwarding.
    sock = socket.create_connection(("127.0.0.1", running.endpoints.tcp_port), timeout=3)
    try:
        sock.sendall(connection.data_to_send() or b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        try:
            reply = sock.recv(65536)
        except (TimeoutError, OSError):
            reply = b""
    finally:
        sock.close()
    assert not reply.startswith(b"HTTP/1.1 200") and upstream.seen == []


def test_the_socket_caps_connections_and_closes_silent_ones(running, upstream) -> None:
    path = str(running.endpoints.unix_socket_path)
    held = []
    for _ in range(MAX_CONNECTIONS + 20):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        sock.connect(path)
        held.append(sock)
    time.sleep(0.5)
    refused = len(_closed(held))
    assert refused >= 20  # over the cap: closed at once
    deadline = time.monotonic() + FIRST_BYTE_SECONDS + 5
    gone: set[socket.socket] = set()
    while len(gone) < len(held) and time.monotonic() < deadline:
        gone |= _closed([sock for sock in held if sock not in gone])
        time.sleep(0.2)
    assert len(gone) == len(held), "silent connections must be closed after the first-byte timeout"
    for sock in held:
        sock.close()
    # and the socket serves again
    from credproxy_fakes import raw_request

    fake = running.proxy.fake_keys["anthropic"]
    head = (b"POST /v1/messages HTTP/1.1\r\nhost: api.anthropic.com\r\nx-api-key: %s\r\n"
            % fake.encode())  # fmt: skip
    answer = raw_request(0, running.endpoints.ca_cert_pem_path, "api.anthropic.com:443", head,
                         unix_path=running.endpoints.unix_socket_path)  # fmt: skip
    assert answer.status == 200


def _closed(socks: list[socket.socket]) -> set[socket.socket]:
    """The sockets whose other end has closed (readable, and reading gives end-of-file)."""
    readable, _, _ = select.select(socks, [], [], 0) if socks else ([], [], [])
    closed = set()
    for sock in readable:
        try:
            if sock.recv(1) == b"":
                closed.add(sock)
        except OSError:
            closed.add(sock)
    return closed
