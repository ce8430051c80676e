"""The one place ``http_fetch`` opens sockets: to the checked address, before the deadline.

``PinnedBackend`` is an httpcore network backend bound to one :class:`Target`: asked to
connect to the target's host it connects to the address that was checked (so a second DNS
answer can never be used), asked for anything else it refuses. TLS still verifies the
certificate against the host name, because httpcore passes the URL's host as SNI.

Every read and write is bounded by what is left of the call's total time, not by a
per-operation timeout, so a server dripping one byte a second can't stretch a call past its
cap. ``CheckedBackend`` does the same for a client that keeps connections: each new one is
checked again. This module imports httpcore; import it lazily (it costs ~300 ms).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

from servers.fetch.addresses import Resolver, Target, UrlRefused, check_url

__all__ = ["CheckedBackend", "DeadlineStream", "PinnedBackend", "tls_context"]

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


class DeadlineStream(httpcore.NetworkStream):
    """A stream whose every operation ends by the call's deadline."""

    def __init__(
        self, inner: httpcore.NetworkStream, deadline: float, clock: Callable[[], float]
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _budget(timeout, self._deadline, self._clock))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _budget(timeout, self._deadline, self._clock))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = _budget(timeout, self._deadline, self._clock)
        secured = self._inner.start_tls(ssl_context, server_hostname, budget)
        return DeadlineStream(secured, self._deadline, self._clock)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


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
        return self._inner.connect_tcp(target.address, port, timeout, local_address, socket_options)
