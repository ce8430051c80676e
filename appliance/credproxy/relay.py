"""The Unix-socket front: what the network-less container is given instead of a TCP port.

An asyncio server on a socket file in a private folder; each connection is piped, byte for byte
and both ways, to the proxy's loopback port. No parsing here: every decision is the proxy's.

Limits, because each connection costs the host process file descriptors: at most
`MAX_CONNECTIONS` at once (more are closed at once), a connection that sends nothing within
`FIRST_BYTE_SECONDS` is closed, and so is one on which nothing moved either way for
`IDLE_SECONDS` (long enough for a slow non-streaming answer; streams send pings far more often).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from appliance.credproxy.limits import MAX_CONNECTIONS

__all__ = ["FIRST_BYTE_SECONDS", "IDLE_SECONDS", "MAX_CONNECTIONS", "start_unix_relay"]

_CHUNK = 64 * 1024
FIRST_BYTE_SECONDS = 10.0
IDLE_SECONDS = 600.0


async def start_unix_relay(
    path: Path,
    mode: int,
    target_port: int,
    *,
    max_connections: int = MAX_CONNECTIONS,
    first_byte_seconds: float = FIRST_BYTE_SECONDS,
    idle_seconds: float = IDLE_SECONDS,
) -> asyncio.Server:
    """Listen on `path` (its folder must be private: the socket is briefly umask-mode)."""
    open_now = 0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        nonlocal open_now
        if open_now >= max_connections:
            client_w.close()
            return
        open_now += 1
        try:
            await _relay(client_r, client_w, target_port, first_byte_seconds, idle_seconds)
        finally:
            open_now -= 1

    server = await asyncio.start_unix_server(handle, path=str(path))
    os.chmod(path, mode)
    return server


async def _relay(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    target_port: int,
    first_byte_seconds: float,
    idle_seconds: float,
) -> None:
    try:
        first = await asyncio.wait_for(client_r.read(_CHUNK), first_byte_seconds)
    except (TimeoutError, ConnectionError, OSError):
        first = b""
    if not first:
        client_w.close()
        return
    try:
        proxy_r, proxy_w = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_w.close()
        return
    moved = [time.monotonic()]
    proxy_w.write(first)
    pipes = asyncio.gather(_pipe(client_r, proxy_w, moved), _pipe(proxy_r, client_w, moved))
    watch = asyncio.ensure_future(_idle_watch(moved, idle_seconds))
    try:
        await asyncio.wait({pipes, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        pipes.cancel()
        with contextlib.suppress(BaseException):
            await pipes
        for writer in (proxy_w, client_w):
            writer.close()


async def _idle_watch(moved: list[float], idle_seconds: float) -> None:
    while (left := moved[0] + idle_seconds - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 5.0))


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, moved: list[float]
) -> None:
    try:
        while data := await reader.read(_CHUNK):
            moved[0] = time.monotonic()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        with contextlib.suppress(Exception):
            writer.close()
