"""Reading a Streamable HTTP answer with limits: a JSON body, or an SSE stream's events.

The server is semi-trusted: every byte it sends counts against a bound, so neither a body nor
an event nor a line without an end can grow the host's memory past ``limit``. SSE as the HTML
standard defines it, as much as MCP uses: ``data`` lines joined by newlines, an empty line ends
an event, ``id`` and ``retry`` kept for resuming (:class:`StreamPosition`), comments and
``event`` names ignored (MCP sends only messages).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from servers.wire.client import ProtocolError

__all__ = ["MAX_EVENT_ID", "StreamPosition", "events", "read_bounded"]

MAX_EVENT_ID = 1000


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ProtocolError(f"the server's answer is larger than {limit} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ProtocolError(f"the server's answer is larger than {limit} bytes")
    return bytes(body)


class StreamPosition:
    """What an SSE stream said about resuming it: its last event id, its ``retry``."""

    __slots__ = ("last_id", "retry_ms")

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None

    def field(self, name: bytes, value: bytes) -> None:
        if name == b"id" and b"\x00" not in value and len(value) <= MAX_EVENT_ID:
            self.last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self.retry_ms = int(value)


async def events(
    response: httpx.Response, limit: int, *, whole: bool, stream: StreamPosition | None = None
) -> AsyncIterator[bytes]:
    """The ``data`` of each SSE event (lines joined by newlines; empty events skipped: a
    2025-11-25 server primes its stream with one). ``whole``: ``limit`` bounds the whole stream
    (an answer); otherwise each event (the long-lived GET stream). ``stream`` hears the
    ``id`` and ``retry`` fields."""
    buffer = bytearray()
    data: list[bytes] = []
    size = seen = 0
    async for chunk in response.aiter_bytes():
        seen += len(chunk)
        buffer += chunk
        if (whole and seen > limit) or len(buffer) > limit:
            raise ProtocolError(f"the server's answer is larger than {limit} bytes")
        start = 0
        while (cut := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:cut]).rstrip(b"\r")
            start = cut + 1
            if not line:
                if data and any(data):
                    yield b"\n".join(data)
                data, size = [], 0
                continue
            field, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if field == b"data":
                data.append(value)
                size += len(value)
                if size > limit:
                    raise ProtocolError(f"the server sent an event larger than {limit} bytes")
            elif stream is not None:
                stream.field(field, value)
        del buffer[:start]
