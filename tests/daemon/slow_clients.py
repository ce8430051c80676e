"""Clients that hold the console's connections open without finishing a request (slowloris),
for the tests that check the console stays usable and bounded meanwhile."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from appliance.daemon import bounded_http
from appliance.daemon.console import Console

__all__ = ["handlers", "held"]


@contextmanager
def held(console: Console, count: int, *, reopen: bool = False) -> Iterator[list[socket.socket]]:
    """``count`` connections that sent half a head, opened 1 ms apart; ``reopen``: a thread
    opens a new one for each the console closes, until the block ends."""
    head = f"GET {console.base} HTTP/1.1\r\nHost: {console.host}:{console.port}\r\nX-Slow: "

    def one() -> socket.socket:
        conn = socket.create_connection((console.host, console.port))
        with suppress(OSError):
            conn.sendall(head.encode())
        return conn

    conns = []
    for _ in range(count):
        conns.append(one())
        time.sleep(0.001)
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(0.005):
            for i, conn in enumerate(conns):
                if select.select([conn], [], [], 0)[0]:  # answered or closed by the console
                    conn.close()
                    with suppress(OSError):
                        conns[i] = one()

    keeper = threading.Thread(target=keep, daemon=True)
    if reopen:
        keeper.start()
    try:
        yield conns
    finally:
        stop.set()
        if reopen:
            keeper.join()
        for conn in conns:
            conn.close()


def handlers(console: Console) -> int:
    """This console's connection threads alive now (bounded_http names them by its port: other
    consoles of the same test process, earlier tests', are not counted)."""
    name = bounded_http.handler_name(console.port)
    return sum(t.name == name for t in threading.enumerate())
