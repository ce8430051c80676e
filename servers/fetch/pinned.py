"""The one place ``http_fetch`` opens sockets: to the checked address, before the deadline.

``PinnedBackend`` is an httpcore network backend bound to one :class:`Target`: asked to
connect to the target's host it connects to the address that was checked (so a second DNS
answer can never be used), asked for anything else it refuses. TLS still verifies the
certificate against the host name, because httpcore passes the URL's host as SNI.

Every read and write is bounded by what is left of the call's total time, not by a
per-operation timeout, so a server dripping one byte a second can't stretch a call past its
cap. ``CheckedBackend`` does the same for a client that keeps connections: each new one is
checked again. This module imports httpcore; import it lazily (it costs ~300 ms).

Every stream either backend makes can be aborted by the client: while a read or a write blocks
on behalf of a request the client cancels (``servers.wire.cancel``), the socket is shut down,
so the blocked call returns at once with an error and the connection is never used again.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

from servers.fetch.addresses import Resolver, Target, UrlRefused, check_url
from servers.wire.cancel import on_cancel

__all__ = ["AbortableStream", "CheckedBackend", "DeadlineStream", "PinnedBackend", "tls_context"]

_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS client context (certifi's roots: the same in every build)."""
    global _tls
    if _tls is None:
        try:
            import certifi

            _tls = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            _tls = ssl.create_default_context()
    return _tls


class _TcpOnly(httpcore.NetworkBackend):
    """A backend that connects over TCP only (its subclasses say to what)."""

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedBackend(_TcpOnly):
    """Connect only to ``target``'s host, and then only to its checked address."""

    def __init__(
        self,
        target: Target,
        deadline: float,
        inner: httpcore.NetworkBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._deadline = deadline
        self._inner = inner or httpcore.SyncBackend()
        self._clock = clock

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self._target.host or port != self._target.port:
            raise httpcore.ConnectError(f"refusing an unpinned connection to {host}:{port}")
        budget = _budget(timeout, self._deadline, self._clock)
        stream = self._inner.connect_tcp(
            self._target.address, port, budget, local_address, socket_options
        )
        return DeadlineStream(stream, self._deadline, self._clock)


class AbortableStream(httpcore.NetworkStream):
    """A stream whose blocking reads and writes end when the client cancels the request."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def _abort(self) -> None:
        raw = self._inner.get_extra_info("socket")
        if isinstance(raw, socket.socket):
            # socket.socket's own shutdown, not SSLSocket's (which would drop the TLS state
            # under the thread reading): the read returns, the descriptor stays open until
            # the stream is closed by its owner.
            socket.socket.shutdown(raw, socket.SHUT_RDWR)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with on_cancel(self._abort):
            return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with on_cancel(self._abort):
            self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        with on_cancel(self._abort):
            return AbortableStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineStream(AbortableStream):
    """A stream whose every operation ends by the call's deadline (or its cancellation)."""

    def __init__(
        self, inner: httpcore.NetworkStream, deadline: float, clock: Callable[[], float]
    ) -> None:
        super().__init__(inner)
        self._deadline = deadline
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return super().read(max_bytes, _budget(timeout, self._deadline, self._clock))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        super().write(buffer, _budget(timeout, self._deadline, self._clock))

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = _budget(timeout, self._deadline, self._clock)
        with on_cancel(self._abort):
            secured = self._inner.start_tls(ssl_context, server_hostname, budget)
        return DeadlineStream(secured, self._deadline, self._clock)


def _budget(timeout: float | None, deadline: float, clock: Callable[[], float]) -> float:
    left = deadline - clock()
    if left <= 0:
        raise httpcore.ReadTimeout("the fetch ran out of time")
    return left if timeout is None else min(timeout, left)


class CheckedBackend(_TcpOnly):
    """For a long-lived client (the GitHub server's): connect only to one host and port, and for
    every new connection resolve and check the name again and connect to the address just
    checked, so the address used is always one that passed (never a second, unchecked answer)."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        resolver: Resolver,
        allow_private: bool,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._scheme, self._host, self._port = scheme, host.strip("[]").lower(), port
        self._resolver = resolver
        self._allow_private = allow_private
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self._host or port != self._port:
            raise httpcore.ConnectError(f"refusing a connection to {host}:{port}")
        shown = f"[{self._host}]" if ":" in self._host else self._host
        url = f"{self._scheme}://{shown}:{port}/"
        try:
            target = check_url(url, self._resolver, self._allow_private, timeout or 30.0)
        except UrlRefused as exc:
            raise httpcore.ConnectError(str(exc)) from None
        stream = self._inner.connect_tcp(
            target.address, port, timeout, local_address, socket_options
        )
        return AbortableStream(stream)
