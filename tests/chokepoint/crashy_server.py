"""A tiny MCP server for the server-failure tests: `echo` answers, `crash` kills the process
mid-call, `hang` never answers. Run as a script; speaks MCP over stdio through our core."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from servers.wire.server import StdioServer, Tool, ToolResult

_TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
_NONE = {"type": "object", "properties": {}}


def _crash(_args: dict) -> ToolResult:
    os._exit(1)


def _hang(_args: dict) -> ToolResult:
    time.sleep(3600)
    return ToolResult("never")


def _echo(args: dict) -> ToolResult:
    return ToolResult(f"{args['text']} from pid {os.getpid()}")


if __name__ == "__main__":
    tools = [
        Tool("echo", "echo the text", _TEXT, _echo),
        Tool("crash", "exit mid-call", _NONE, _crash),
        Tool("hang", "never answer", _NONE, _hang),
    ]
    StdioServer("crashy", "0", tools).run()
