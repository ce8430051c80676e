"""A raw MCP client for tests that must see every line: newline-delimited JSON-RPC over any pair
of byte streams (a server's stdio pipes, a Unix socket), read on a thread. Nothing is answered
for the test and nothing it did not take is dropped: :meth:`McpLines.take` waits for the first
message a predicate accepts and leaves the others for :meth:`McpLines.answers`.

Used by tests/servers/test_cancellation.py (a shipped server over stdio) and
tests/chokepoint/test_front_cancellation.py (the gate socket and ``ironcurtain mcp-proxy``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["INIT_PARAMS", "McpLines", "McpProcess"]

REPO_ROOT = Path(__file__).resolve().parents[2]

INIT_PARAMS = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}


class McpLines:
    def __init__(self, writer: BinaryIO, reader: BinaryIO) -> None:
        self._writer = writer
        self._unread: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self.ended = threading.Event()  # the peer closed its side
        threading.Thread(target=self._read, args=(reader,), daemon=True).start()

    def _read(self, reader: BinaryIO) -> None:
        try:
            for line in reader:
                with self._arrived:
                    self._unread.append(json.loads(line))
                    self._arrived.notify_all()
        except (OSError, ValueError):
            pass  # closed under the reader
        self.ended.set()

    def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        params = dict(INIT_PARAMS, capabilities=capabilities or {})
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        answer = self.answer(0, 60)
        assert "result" in answer, answer
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def send(self, message: dict[str, Any]) -> None:
        self._writer.write(json.dumps(message).encode() + b"\n")
        self._writer.flush()

    def call(self, request_id: object, tool: str, arguments: dict[str, Any]) -> None:
        params = {"name": tool, "arguments": arguments}
        self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})

    def cancel(self, request_id: object, reason: str = "test") -> None:
        params = {"requestId": request_id, "reason": reason}
        self.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})

    def take(self, wanted: Callable[[dict[str, Any]], bool], within: float, what: str) -> dict:
        """The first unread message ``wanted`` accepts, waiting up to ``within`` seconds."""
        deadline = time.monotonic() + within
        with self._arrived:
            while True:
                for index, message in enumerate(self._unread):
                    if wanted(message):
                        return self._unread.pop(index)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {within} s: {self._unread}")
                self._arrived.wait(left)

    def answer(self, request_id: object, within: float = 30) -> dict[str, Any]:
        """The response to ``request_id`` (its id's type counts: 7 is not "7")."""

        def answers_it(message: dict[str, Any]) -> bool:
            got = message.get("id")
            return "method" not in message and got == request_id and type(got) is type(request_id)

        return self.take(answers_it, within, f"answer for {request_id!r}")

    def answers(self, within: float) -> list[dict[str, Any]]:
        """Every unread message, and each that arrives within ``within`` seconds."""
        time.sleep(within)
        with self._arrived:
            got, self._unread = self._unread, []
        return got


class McpProcess(McpLines):
    """``python -m appliance.cli ARGV`` from the repository, spoken to over its stdio; its
    stderr kept in the file ``stderr`` (read with :meth:`stderr`). :meth:`close` closes its
    stdin and waits up to ``close_wait`` seconds before killing it."""

    def __init__(
        self,
        argv: list[str],
        stderr: Path,
        env: dict[str, str] | None = None,
        close_wait: float = 10,
    ) -> None:
        self._stderr, self._close_wait = stderr, close_wait
        self.process = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr.open("wb"),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
            cwd=REPO_ROOT,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        super().__init__(self.process.stdin, self.process.stdout)

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(self._close_wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
