"""Starting the SDK's Streamable HTTP test server (remote_server.py) on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).with_name("remote_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RemoteServer:
    url: str
    port: int
    headers_log: Path
    process: subprocess.Popen[bytes]

    def received(self) -> list[str]:
        """The Authorization header of each tool call, as the server saw it."""
        if not self.headers_log.exists():
            return []
        return self.headers_log.read_text().splitlines()


def wait_listening(port: int, process: subprocess.Popen[bytes], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {within_s} s")


@contextlib.contextmanager
def sdk_remote(
    folder: Path, *, json_answers: bool = False, port: int | None = None
) -> Iterator[RemoteServer]:
    """The server in its own process; stopped (by its own pid) when the block ends."""
    port = port or free_port()
    log = folder / f"headers-{port}.log"
    argv = [sys.executable, str(SERVER), str(port), str(log), *(["--json"] if json_answers else [])]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        yield RemoteServer(f"http://127.0.0.1:{port}/mcp", port, log, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
