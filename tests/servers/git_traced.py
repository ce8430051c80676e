"""The real git server over stdio, started under ``strace -f -e trace=execve``.

Every program the server or any descendant tries to start is recorded, failed attempts
included (a program that does not exist still shows as an ``execve`` returning ENOENT). The
client speaks raw JSON-RPC over the pipes, as any MCP client would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_EXEC = re.compile(r'^\d+\s+execve\("([^"]*)"')


def git_exec_path() -> str:
    return subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()


class TracedGitServer:
    """``ironcurtain serve git`` under strace; ``call`` answers (is_error, text)."""

    def __init__(self, log: Path, *argv: str) -> None:
        self.log = log
        strace = shutil.which("strace")
        if strace is None:
            raise RuntimeError("strace is needed to record every program the server starts")
        command = [strace, "-f", "-qq", "-e", "trace=execve", "-o", str(log)]
        command += [sys.executable, "-m", "appliance.cli", "serve", "git", *argv]
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._id = 0
        self._rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}})  # fmt: skip
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.seen = 0

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the git server closed its output")
            message = json.loads(line)
            if message.get("id") == self._id:
                return message

    def call(self, tool: str, **arguments: Any) -> tuple[bool, str]:
        answer = self._rpc("tools/call", {"name": tool, "arguments": arguments})
        result = answer["result"]
        return bool(result.get("isError")), result["content"][0]["text"]

    def programs(self) -> list[str]:
        """Every program started (or tried) since the server's own start."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        found = [m[1] for m in map(_EXEC.match, lines) if m]
        return found[1:]  # the first is the server's own interpreter

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def foreign(programs: list[str], exec_path: str) -> list[str]:
    """The programs that are neither git, git's own helpers, nor the prlimit wrapper."""
    allowed = {"git", "prlimit"}
    return [
        p
        for p in programs
        if os.path.basename(p) not in allowed and not p.startswith(exec_path.rstrip("/") + "/")
    ]
