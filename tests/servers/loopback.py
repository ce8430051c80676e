"""A loopback HTTP server that accepts connections, reads each request and never answers: the
site a real fetch server waits on while a test cuts its call off, cancels it or kills its host.

Shared by the tests of the run limit (tests/code_mode/test_run_limit_cuts_calls.py), of a host
killed mid-call (tests/chokepoint/test_host_crash.py) and of a client's cancellation through the
fronts (tests/chokepoint/test_front_cancellation.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

__all__ = ["Tarpit", "tarpit"]


class Tarpit:
    """``url`` (http://localhost:PORT + ``path``); ``received`` is set once a whole request head
    has arrived (the site has the request), ``closed`` once a client closes its side of a
    connection (``closed_at``: when, by ``time.monotonic``); ``connections`` counts accepts."""

    def __init__(self, path: str = "/") -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://localhost:{self._listener.getsockname()[1]}{path}"
        self.received = threading.Event()
        self.closed = threading.Event()
        self.closed_at: float | None = None
        self.connections = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()[0]
            except OSError:
                return
            self._held.append(conn)
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        try:
            while chunk := conn.recv(65536):
                if not self.received.is_set():
                    data += chunk
                    if b"\r\n\r\n" in data:
                        self.received.set()
        except ConnectionResetError:
            pass  # the client went away as surely as with a FIN
        except OSError:
            return  # closed here (the tarpit's own teardown)
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        self.closed.set()

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()


@contextlib.contextmanager
def tarpit(path: str = "/") -> Iterator[Tarpit]:
    site = Tarpit(path)
    try:
        yield site
    finally:
        site.close()
