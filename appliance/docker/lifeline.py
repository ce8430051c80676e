"""The container's tie to the host process: when the host dies, however it dies, the agent dies.

The host listens on `lifeline.sock` in the runtime folder and holds every connection open without
ever writing. In the container, a watchdog started before the agent connects once and reads; it
reads end-of-file only when the host's end closes, which the kernel does for a SIGKILLed process
too. The watchdog then kills every process of the container's user, the init exits, and the
container stops: no orphan agent keeps a read-write workspace after its supervisor is gone. A
watchdog that cannot connect at all kills at once (fail closed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

__all__ = ["LIFELINE_NAME", "Lifeline", "watchdog_script"]

LIFELINE_NAME = "lifeline.sock"
_MAX_HELD = 4  # the watchdog needs one; a few more let a restarted watchdog reconnect


def watchdog_script(path: str) -> str:
    """Shell for the container's entry: run in the background before the agent starts."""
    return f"(socat -u UNIX-CONNECT:{path} - >/dev/null 2>&1; kill -9 -1) & "


class Lifeline:
    """A listening socket whose connections are held open until `close()` or the process ends."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LIFELINE_NAME
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self._listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self._listener.listen(_MAX_HELD)
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="lifeline", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if len(self._held) >= _MAX_HELD:
                conn.close()
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._held:
            conn.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Lifeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
