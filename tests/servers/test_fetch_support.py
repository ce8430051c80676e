"""Helpers for the fetch server's tests: real HTTP servers on loopback and injectable seams.

(Named test_fetch_* so it sits with the fetch tests; it holds no tests itself.)

``LocalSite`` is a ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread serving a dict of
routes (path -> function(handler)) and recording every request it got. ``table_resolver``
answers DNS questions from a dict, and ``RoutedNetwork`` is an httpcore network backend that
records the address the fetch connected to and carries the connection to a local server, so a
test can play a *public* address (the private-address block fully on) against a loopback site.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalSite:
    routes: dict[str, Route]
    host: str = "127.0.0.1"
    port: int = 0
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def local_site(
    routes: dict[str, Route],
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[LocalSite]:
    site = LocalSite(routes, host)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            site.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            route = site.routes.get(self.path.split("?", 1)[0])
            if route is None:
                send(self, 404, b"not found", "text/plain")
            else:
                route(self)

        do_GET = do_POST = _any

    server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    site.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def answer(
    status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str
) -> Route:
    return lambda h: send(h, status, body, content_type, headers)


def page(body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> Route:
    return answer(200, body, content_type, **headers)


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: send(h, status, b"", "text/plain", {"Location": location})


def table_resolver(table: dict[str, list[str]]) -> Callable[[str, int, float], list[str]]:
    """A resolver answering from ``table``; unknown names fail like NXDOMAIN."""

    def resolve(host: str, port: int, timeout: float) -> list[str]:
        if host not in table:
            raise OSError(f"no such name {host}")
        return list(table[host])

    return resolve


class SequenceResolver:
    """Answers each question with the next answer in turn: the DNS-rebinding attacker."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


class RoutedNetwork(httpcore.NetworkBackend):
    """Record where the fetch connects, then carry the connection to a loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connects: list[tuple[str, int]] = []
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        return self._inner.connect_tcp(
            "127.0.0.1", self.port, timeout, local_address, socket_options
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AssertionError("the fetch must never open a unix socket")


def tls_pair(tmp_path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """A server context with a certificate for ``name``, a client context trusting only its
    CA, and a list the server fills with the SNI names it was asked for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    sni: list[str] = []
    server.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client, sni
