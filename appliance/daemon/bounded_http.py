"""An HTTP server for the console whose connections are bounded in number, time and size.

``http.server`` gives each connection a thread for as long as the client keeps it open and reads
a request head of up to 100 lines of 64 KiB. Any local process (or a web page, through the
browser) could hold hundreds of threads by connecting and sending nothing, or a byte every few
seconds (slowloris; a per-read timeout never fires), and tens of MiB by sending long header lines.

Here:

- at most :data:`MAX_CONNECTIONS` handler threads; a connection beyond them closes the oldest one
  still sending its request head or lingering after its reply (a person's browser sends its head
  at once, so a newcomer wins a slot from whoever holds connections open), and is refused with
  503 only when every slot is working on a complete request;
- one deadline, :data:`REQUEST_DEADLINE_S` from the connection's start, for the whole head and
  body, however the bytes trickle in (408 after it);
- a request head of at most :data:`MAX_HEAD` bytes (431); a head cut short by the client is
  dropped, never handled as a request.

Nothing here answers anything: it only decides whether a request reaches the handler. Each refusal
is reported through ``refused(reason)`` (the console counts it in its audit).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["MAX_CONNECTIONS", "MAX_HEAD", "REQUEST_DEADLINE_S", "BoundedHandler", "BoundedServer"]

MAX_CONNECTIONS = 32
REQUEST_DEADLINE_S = 5.0
MAX_HEAD = 32 * 1024
WRITE_TIMEOUT_S = 10.0  # a reply the client does not read: the slot is freed after this
SLOT_WAIT_S = 1.0  # how long a newcomer waits for a closed connection's thread to end
LINGER_S = 0.2  # after a reply, how long the rest of what the client sent is read and dropped
LINGER_BYTES = 64 * 1024
TOO_MANY = "too many connections"
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 44\r\n\r\n"
    b"The console is busy: too many connections.\r\n"
)


class _HeadTooLarge(Exception):
    pass


class _HeadCut(Exception):
    """The client closed the connection inside a request head."""


class _DeadlineSocket(io.RawIOBase):
    """The connection's bytes; every wait for them is bounded by what is left of one deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _RequestReader:
    """``rfile`` for a handler: ``readline`` (the head) counts against :data:`MAX_HEAD`,
    ``read(n)`` (a body whose length the handler checked) does not; both keep the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._buffer = io.BufferedReader(_DeadlineSocket(sock, deadline))
        self._head_left = MAX_HEAD
        self._started = False

    def readline(self, limit: int = -1) -> bytes:
        room = self._head_left + 1
        line = self._buffer.readline(room if limit < 0 else min(limit, room))
        self._head_left -= len(line)
        if self._head_left < 0:
            raise _HeadTooLarge
        if not line and self._started:
            raise _HeadCut  # http.client would take the lines so far as the whole head
        self._started = True
        return line

    def read(self, size: int) -> bytes:
        if size < 0:
            raise ValueError("a body is read by its length, never to the end of the stream")
        return self._buffer.read(size)

    def close(self) -> None:
        self._buffer.close()


def handler_name(port: int) -> str:
    """The name of a handler thread of the server on ``port`` (a test counts them by it)."""
    return f"console-handler-{port}"


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with at most :data:`MAX_CONNECTIONS` handler threads (see the
    module)."""

    daemon_threads = True
    request_queue_size = 1024  # connects beyond it are dropped and retried after 1 s

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BoundedHandler],
        refused: Callable[[str], object],
    ) -> None:
        super().__init__(address, handler)
        self.refused = refused
        self._slots = MAX_CONNECTIONS
        self._busy = 0
        # connections still sending their head, or lingering after their reply: the ones a
        # newcomer may close (oldest first) when every slot is taken
        self._closable: OrderedDict[socket.socket, None] = OrderedDict()
        self._changed = threading.Condition()

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        evicted, ok = self._take_slot(request)
        if evicted:
            self.refused(f"{TOO_MANY}: the oldest unfinished one closed")
        if not ok:
            self._turn_away(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._give_back(request)  # no thread started: the slot is still ours
            raise

    def process_request_thread(
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        threading.current_thread().name = handler_name(self.server_address[1])
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._give_back(request)

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        super().finish_request(request, client_address)
        self._linger(request)

    def spare(self, request: socket.socket) -> None:
        """The connection's head is in (or it is being answered): no newcomer may close it."""
        with self._changed:
            self._closable.pop(request, None)

    def server_close(self) -> None:
        with self._changed:
            for sock in list(self._closable):
                _cut(sock)
            self._changed.wait_for(lambda: self._busy == 0, SLOT_WAIT_S)
        super().server_close()

    def _take_slot(self, request: socket.socket) -> tuple[bool, bool]:
        """(closed another connection, got a slot)."""
        evicted = False
        with self._changed:
            if self._busy >= self._slots and self._closable:
                oldest = next(iter(self._closable))
                del self._closable[oldest]
                _cut(oldest)
                evicted = True
            if not self._changed.wait_for(lambda: self._busy < self._slots, SLOT_WAIT_S):
                return evicted, False
            self._busy += 1
            self._closable[request] = None
            return evicted, True

    def _linger(self, request: socket.socket) -> None:
        """Read and drop what the client still sends for a moment before closing: closing with
        unread bytes resets the connection, and the client loses the reply (a 408 to a body
        still trickling in). Meanwhile the connection is the first to close for a newcomer."""
        with self._changed:
            self._closable[request] = None
            self._closable.move_to_end(request, last=False)
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_WR)
            end, left = time.monotonic() + LINGER_S, LINGER_BYTES
            while left > 0 and (wait := end - time.monotonic()) > 0:
                request.settimeout(wait)
                chunk = request.recv(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        self.spare(request)

    def _give_back(self, request: socket.socket) -> None:
        with self._changed:
            self._closable.pop(request, None)
            self._busy -= 1
            self._changed.notify_all()

    def _turn_away(self, request: socket.socket) -> None:
        """503 without blocking the accepting thread (what the client sent is dropped first,
        so that closing does not reset the connection before it reads the reply)."""
        with contextlib.suppress(OSError):
            request.setblocking(False)
            for _ in range(LINGER_BYTES // 16384):
                request.recv(16384)
        with contextlib.suppress(OSError):
            request.send(_BUSY)
            request.shutdown(socket.SHUT_WR)
        self.close_request(request)
        self.refused(f"{TOO_MANY}: refused, every slot busy")


def _cut(sock: socket.socket) -> None:
    """End a connection another thread is reading: its ``recv`` returns at once. Never
    ``close`` it here (the number could be reused before that thread is done with it)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler whose reads keep the server's limits. Subclasses implement ``do_*``."""

    server: BoundedServer

    def setup(self) -> None:
        super().setup()
        self.rfile = _RequestReader(self.connection, time.monotonic() + REQUEST_DEADLINE_S)  # type: ignore[assignment]
        self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
        self._head_done = False

    def parse_request(self) -> bool:
        try:
            answered = super().parse_request()
        finally:
            self.server.spare(self.request)
        self._head_done = True  # not when reading it raised (a timeout, a head too large)
        return answered

    def send_response(self, code: int, message: str | None = None) -> None:
        self.connection.settimeout(WRITE_TIMEOUT_S)  # the read deadline's rest may be ~0
        super().send_response(code, message)

    def handle_one_request(self) -> None:
        """One request per connection (an HTTP/1.0 server), read within the limits."""
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline()
            if not self.raw_requestline or not self.parse_request():
                return  # the client sent nothing, or parse_request answered the error
            handler = getattr(self, f"do_{self.command}", None)
            if handler is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED)
                return
            handler()
        except _HeadTooLarge:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"over {MAX_HEAD} bytes")
        except TimeoutError:
            if not self._head_done:  # later, a reply the client did not read: just close
                self._refuse(HTTPStatus.REQUEST_TIMEOUT, f"not in within {REQUEST_DEADLINE_S:g} s")
        except (_HeadCut, ConnectionError):
            return  # the client is gone: nothing to answer, nothing was handled

    def _refuse(self, status: HTTPStatus, why: str) -> None:
        self.server.spare(self.request)  # answering now: not a connection to close
        self.server.refused(f"request head {why}")
        with contextlib.suppress(OSError):
            self.send_error(status, explain=f"request head {why}")
