"""What the proxy holds of the bodies it reads: one budget across all flows, counted as bytes come.

mitmproxy reads a request body whole before any addon sees it (the checks need it whole), up to
``body_size_limit`` per body. Nothing bounded the sum: the agent, with its 64 connections, could
make the host hold 64 bodies of 32 MiB at once (measured: +2.1 GiB RSS, tests/bench/
bench_proxy_bodies.py). mitmproxy has no hook per chunk of a buffered body, so this module
gives its HTTP streams buffers that charge a `BodyLedger` as each chunk arrives:

- a chunk that would take the bodies held by all flows over the budget is dropped, and so is
  everything after it on that body; the flow is marked `OVER_BUDGET` (``addons/intake.py``
  answers a request 503; a response's connection is cut at once);
- a request the proxy already answered at its headers (denied) keeps nothing of its body;
- a client connection's unparsed bytes (a header block that never ends, data sent after a body
  while its answer is awaited: mitmproxy keeps both, unbounded) are capped; over the cap the
  connection is cut.

A flow's charge is released when the flow ends (``addons/intake.py``: response, error, client
gone). This is the one place that reaches into mitmproxy's HTTP layer (the buffers of
``HttpStream`` and ``Http1Server``); tests/credproxy/test_inflight_bodies.py fails if that
layer changes shape.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from h11._receivebuffer import ReceiveBuffer as _UnparsedBuffer
from mitmproxy.proxy.layers.http import HttpStream
from mitmproxy.proxy.layers.http._http1 import Http1Server
from mitmproxy.proxy.utils import ReceiveBuffer as _BodyBuffer

from appliance.credproxy.addons.base import cut_client

__all__ = ["OVER_BUDGET", "BodyLedger", "install", "uninstall"]

logger = logging.getLogger("appliance.credproxy")

OVER_BUDGET = "ironcurtain.over-budget"  # flow.metadata: "request" or "response"


class BodyLedger:
    """Bytes reserved or held per (flow id, "request"|"response"), and their sum, kept at or
    under ``budget``. Used on the proxy's thread; the lock is for readers elsewhere (tests)."""

    def __init__(self, budget: int, per_body: int, unparsed: int) -> None:
        self.budget = budget
        self.per_body = per_body
        self.unparsed = unparsed
        self._held: dict[tuple[str, str], int] = {}
        self._total = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._total

    @property
    def flows(self) -> int:
        with self._lock:
            return len({flow_id for flow_id, _ in self._held})

    def reserve(self, flow_id: str, part: str, size: int) -> bool:
        """Make the flow's part hold `size` bytes (never less than it holds); False, and nothing
        changed, if that would take the sum over the budget."""
        key = (flow_id, part)
        with self._lock:
            held = self._held.get(key, 0)
            if size <= held:
                return True
            if self._total - held + size > self.budget:
                return False
            self._held[key] = size
            self._total += size - held
            return True

    def release(self, flow_id: str, part: str | None = None) -> None:
        with self._lock:
            for key in [(flow_id, part)] if part else [(flow_id, "request"), (flow_id, "response")]:
                self._total -= self._held.pop(key, 0)


class _CountedBody(_BodyBuffer):
    """An HttpStream's body buffer that charges the ledger before it keeps a chunk."""

    def __init__(self, ledger: BodyLedger, stream: Any, part: str) -> None:
        super().__init__()
        self._ledger = ledger
        self._stream = stream
        self._part = part

    def __iadd__(self, data: bytes) -> _CountedBody:
        flow = self._stream.flow
        answered = self._part == "request" and flow.response is not None
        if OVER_BUDGET not in flow.metadata and not answered:
            if self._ledger.reserve(flow.id, self._part, self._len + len(data)):
                return super().__iadd__(data)
            flow.metadata[OVER_BUDGET] = self._part
            logger.warning(
                "credential proxy: %s body of flow %s dropped: bodies in flight would exceed "
                "%d bytes", self._part, flow.id, self._ledger.budget,
            )  # fmt: skip
            if self._part == "response":
                cut_client(flow.client_conn.id)
        # Drop what is held, keep counting: mitmproxy's own per-body cap still applies.
        self._chunks.clear()
        self._len += len(data)
        self._ledger.release(flow.id, self._part)
        return self


class _ClientBuffer(_UnparsedBuffer):
    """An Http1Server's receive buffer (bytes from the client not yet parsed), capped."""

    def __init__(self, cap: int, client: Any) -> None:
        super().__init__()
        self._cap = cap
        self._client = client
        self._cut = False

    def __iadd__(self, data: bytes | bytearray) -> _ClientBuffer:
        if self._cut:
            return self
        super().__iadd__(data)
        if len(self) > self._cap:
            self._cut = True
            del self._data[:]
            logger.warning(
                "credential proxy: client %s sent over %d bytes outside any message; cut",
                self._client.id, self._cap,
            )  # fmt: skip
            cut_client(self._client.id)
        return self


_current: BodyLedger | None = None  # the running proxy's (one per process: proxy.py)


def install(ledger: BodyLedger) -> None:
    """Count every HTTP stream and client connection made from now on against `ledger`."""
    global _current
    _current = ledger
    if getattr(HttpStream, "_ironcurtain_counted", False):
        return
    stream_init, server_init = HttpStream.__init__, Http1Server.__init__

    def counted_stream(self: Any, context: Any, stream_id: int) -> None:
        stream_init(self, context, stream_id)
        if _current is not None:
            self.request_body_buf = _CountedBody(_current, self, "request")
            self.response_body_buf = _CountedBody(_current, self, "response")

    def counted_server(self: Any, context: Any) -> None:
        server_init(self, context)
        if _current is not None:
            self.buf = _ClientBuffer(_current.unparsed, self.conn)

    HttpStream.__init__ = counted_stream  # type: ignore[method-assign]
    Http1Server.__init__ = counted_server  # type: ignore[method-assign]
    HttpStream._ironcurtain_counted = True  # type: ignore[attr-defined]


def uninstall(ledger: BodyLedger) -> None:
    global _current
    if _current is ledger:
        _current = None
