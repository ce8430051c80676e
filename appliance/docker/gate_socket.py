"""The chokepoint's MCP endpoint on a Unix socket: the container's only way to a tool.

Each connection gets its own `servers.wire.server.StdioServer(validate=False)` reading and
writing the socket as newline-delimited JSON-RPC; every `tools/call` goes to
`session.chokepoint.call` on the session's event loop (through an anyio `BlockingPortal`), so a call
from the container is checked, escalated and audited exactly like one from Code Mode. Tools are
named `SERVER__TOOL`. A `notifications/cancelled` for a call of that connection cuts its trip off
(`appliance.chokepoint.gate`); ids are per connection, so one connection cannot cancel another's.

Bounds: at most `MAX_CONNECTIONS` connections; each connection has StdioServer's bounds
(message size, queued calls, bytes in flight) and is hung up after `IDLE_SECONDS` without a
message while no call of it is pending. Unknown tool names go to the chokepoint (denied, audited).

The socket file is 0600 in a 0700 folder the caller owns. When the chokepoint raises
`SessionStopped` (the audit log failed), the gate refuses every later call and tells its owner
through `on_stopped`: no effect may go unaudited.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from appliance.chokepoint.gate import SEPARATOR, ChokepointCalls
from servers.wire.server import StdioServer, Tool, ToolResult

__all__ = ["SEPARATOR", "ChokepointCalls", "GateSocket", "gate_tools", "serve_gate"]

MAX_CONNECTIONS = 8  # one agent opens one or two; more is a misbehaving container
IDLE_SECONDS = 600.0  # no message and no call pending this long: the connection is hung up


class GateSocket:
    """Serve `tools` over MCP on the Unix socket `path`, one server per connection, in threads."""

    def __init__(
        self,
        path: Path,
        tools: list[Tool],
        *,
        version: str,
        unknown: Callable[[str, Any], ToolResult] | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self._tools = tools
        self._version = version
        self._unknown = unknown
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> Path:
        folder = self.path.parent
        if folder.stat().st_mode & 0o077:
            raise PermissionError(f"{folder}: the gate socket's folder must be private (0700)")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        listener.listen(MAX_CONNECTIONS)
        self._listener = listener
        threading.Thread(
            target=self._accept_loop, args=(listener,), name="gate-accept", daemon=True
        ).start()
        return self.path

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if len(self._connections) >= MAX_CONNECTIONS:
                    conn.close()
                    continue
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader, writer = conn.makefile("rb"), conn.makefile("wb")
        server = StdioServer(
            "ironcurtain", self._version, self._tools, validate=False, unknown=self._unknown
        )
        done = threading.Event()
        threading.Thread(
            target=self._hang_up_when_idle, args=(conn, server, done), daemon=True
        ).start()
        try:
            server.run(reader, writer)
        except OSError:
            pass  # the container hung up mid-write: nothing to answer
        finally:
            done.set()
            with self._lock:
                self._connections.discard(conn)
            for stream in (reader, writer, conn):
                with contextlib.suppress(OSError):
                    stream.close()

    def _hang_up_when_idle(self, conn: socket.socket, server: StdioServer, done: threading.Event):
        """Shut the connection down once it sent nothing for `idle_seconds` and waits for no
        answer (a call waiting on a human keeps it open); the read loop then ends normally."""
        tick = min(5.0, self.idle_seconds / 4)
        while not done.wait(tick):
            quiet = time.monotonic() - server.last_activity
            if quiet >= self.idle_seconds and not server.busy():
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                return

    def close(self) -> None:
        """Stop accepting, hang up every connection, remove the socket file. Safe twice."""
        self._closed.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self.path.unlink(missing_ok=True)


def gate_tools(
    infos: list[Any], chokepoint: Any, portal: Any, on_stopped: Callable[[str], None]
) -> list[Tool]:
    """One `Tool` per server tool, each handing its call to the chokepoint."""
    return ChokepointCalls(chokepoint, portal, on_stopped).tools(infos)


@contextlib.asynccontextmanager
async def serve_gate(
    session: Any, path: Path, on_stopped: Callable[[str], None], infos: list[Any] | None = None
) -> AsyncIterator[GateSocket]:
    """Serve `session`'s tools (`infos`, if already listed) on `path` during the block."""
    from anyio.from_thread import BlockingPortal

    from appliance import __version__

    async with BlockingPortal() as portal:
        if infos is None:
            infos = await session.servers.all_tools()
        calls = ChokepointCalls(session.chokepoint, portal, on_stopped)
        gate = GateSocket(path, calls.tools(infos), version=__version__, unknown=calls.unknown)
        gate.start()
        try:
            yield gate
        finally:
            gate.close()
