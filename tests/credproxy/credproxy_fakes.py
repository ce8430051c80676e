"""A fake provider on 127.0.0.1: real TLS with its own test CA, records what reaches it.

It answers for api.anthropic.com, api.openai.com and generativelanguage.googleapis.com (one
certificate, three names), so the proxy's upstream TLS check runs for real.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REAL_KEYS = {
    "anthropic": "sk-ant-api03-REAL-anthropic-key-never-in-the-container-AA",
    "openai": "sk-proj-REAL-openai-key",
    "google": "AIzaREAL-google-key",
}

HOSTS = ("api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com")

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
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
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


def serve_upstream(cert: Path, key: Path) -> tuple[FakeUpstream, ThreadingHTTPServer]:
    state = FakeUpstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self._record()
            if state.sse_events:
                self._stream()
            else:
                self._json(200, state.json_body)

        def do_GET(self) -> None:
            self._record()
            self._json(200, {"ok": True})

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            sni = getattr(self.connection, "ironcurtain_sni", None)
            state.seen.append(Seen(self.command, self.path, headers, self.rfile.read(length), sni))

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
