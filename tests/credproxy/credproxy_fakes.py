"""A fake provider on 127.0.0.1: real TLS with its own test CA, records what reaches it.

It answers for api.anthropic.com, api.openai.com and generativelanguage.googleapis.com (one
certificate, three names), so the proxy's upstream TLS check runs for real.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# What a client sees when the proxy cuts its connection: a close mid-exchange or a reset,
# depending on timing.
CUT = (httpx.RemoteProtocolError, httpx.ReadError)

REAL_KEYS = {
    "anthropic": "sk-ant-api03-REAL-anthropic-key-never-in-the-container-AA",
    "openai": "sk-proj-REAL-openai-key",
    "google": "AIzaREAL-google-key",
}

HOSTS = ("api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com")
# The package registries the package gate reaches (test_packages.py serves them on loopback).
REGISTRIES = ("registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "deb.debian.org")

ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "hello"}],
    "usage": {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 3},
}


def make_test_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for HOSTS: (ca.pem, server-cert.pem, server-key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake upstream test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(h) for h in (*HOSTS, *REGISTRIES, "localhost")]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, list[str]]
    body: bytes
    sni: str | None


@dataclass
class FakeUpstream:
    """Scripted answers: JSON with usage by default; `sse_events` for an event stream whose
    sending is paced by `sse_gates` (event i+1 is sent only after gate i is set)."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    sse_events: list[bytes] = field(default_factory=list)
    sse_gates: list[threading.Event] = field(default_factory=list)
    json_body: dict = field(default_factory=lambda: dict(ANTHROPIC_MESSAGE))
    extra_headers: dict[str, str] = field(default_factory=dict)
    json_status: int = 200
    delay: float = 0.0  # seconds before answering (a provider thinking)


def serve_upstream(cert: Path, key: Path) -> tuple[FakeUpstream, ThreadingHTTPServer]:
    state = FakeUpstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self._record()
            time.sleep(state.delay)
            if state.sse_events:
                self._stream()
            else:
                self._json(state.json_status, state.json_body)

        def do_GET(self) -> None:
            self._record()
            self._json(200, {"ok": True})

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            sni = getattr(self.connection, "ironcurtain_sni", None)
            chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
            body = self._read_chunked() if chunked else self.rfile.read(length)
            state.seen.append(Seen(self.command, self.path, headers, body, sni))

        def _read_chunked(self) -> bytes:
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return body

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in state.extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            for name, value in state.extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            for i, event in enumerate(state.sse_events):
                if i > 0 and i - 1 < len(state.sse_gates):
                    state.sse_gates[i - 1].wait(10)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.ironcurtain_sni = name  # type: ignore[attr-defined]

    context.sni_callback = remember_sni
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return state, server


def serve_tls(handler: type[BaseHTTPRequestHandler], cert: Path, key: Path) -> ThreadingHTTPServer:
    """``handler`` served over real TLS (``cert``, ``key``) on an ephemeral 127.0.0.1 port, in a
    daemon thread: the scripted upstream of a test (``server.server_address[1]`` is its port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@dataclass
class RawAnswer:
    status: int | None  # None: the proxy cut the connection
    body: bytes = b""
    stage: str = "request"  # "connect" when the CONNECT itself was answered


def raw_request(
    proxy_port: int,
    ca_pem: Path,
    connect: str | None,
    head: bytes,
    body: bytes = b"{}",
    sni: str | None = None,
    unix_path: Path | None = None,
    tls: bool = True,
) -> RawAnswer:
    """Send exactly these bytes through the proxy (CONNECT + TLS when `connect` is set).

    A raw client because httpx would normalise the adversarial parts away (dot segments,
    header case, duplicate headers) before the proxy ever saw them.
    """
    import socket

    if unix_path is None:
        sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(unix_path))
    try:
        stream: socket.socket = sock
        if connect is not None:
            sock.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % ((connect.encode(),) * 2))
            status, _, rest = _read_response(sock)
            if status != 200:
                return RawAnswer(status, rest, stage="connect")
        if connect is not None and tls:
            context = ssl.create_default_context(cafile=str(ca_pem))
            stream = context.wrap_socket(sock, server_hostname=sni or connect.rsplit(":", 1)[0])
        message = head + b"content-length: %d\r\n\r\n" % len(body) + body
        stream.sendall(message)
        status, _, rest = _read_response(stream)
        return RawAnswer(status, rest)
    finally:
        sock.close()


def _read_response(sock: object) -> tuple[int | None, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        try:
            chunk = sock.recv(65536)  # type: ignore[attr-defined]
        except (ConnectionError, ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            return None, {}, buffer
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(
        (k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])
    )
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)  # type: ignore[attr-defined]
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest
