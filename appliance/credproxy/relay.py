"""The Unix-socket front: what the network-less container is given instead of a TCP port.

An asyncio server on a socket file in a private folder; each connection is piped, byte for byte
and both ways, to the proxy's loopback port. No parsing here: every decision is the proxy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

__all__ = ["start_unix_relay"]

_CHUNK = 64 * 1024


async def start_unix_relay(path: Path, mode: int, target_port: int) -> asyncio.Server:
    """Listen on `path` (its folder must be private: the socket is briefly umask-mode)."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            proxy_r, proxy_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pipe(client_r, proxy_w), _pipe(proxy_r, client_w))
        finally:
            for writer in (proxy_w, client_w):
                writer.close()

    server = await asyncio.start_unix_server(handle, path=str(path))
    os.chmod(path, mode)
    return server


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        with contextlib.suppress(Exception):
            writer.close()
