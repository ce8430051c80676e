"""A remote MCP server for the tests: the MCP SDK's own Streamable HTTP transport on loopback.

``python remote_server.py PORT HEADERS_LOG [--json]``: serves ``/mcp`` on 127.0.0.1:PORT (SSE
answers by default, one JSON object per answer with ``--json``), and appends every tool call's
``Authorization`` header to HEADERS_LOG, so a test sees what reached the server. With ``stdio``
in place of PORT the same tools are served over stdio (``tools/list_changed`` on that transport).

Tools: ``echo`` (text back), ``whoami`` (the Authorization header it received, echoed back as a
careless server might), ``grow`` (adds the tool ``extra`` and changes ``echo``'s input schema, then
announces ``notifications/tools/list_changed`` on the call's own stream or, with
``via="get"``, on the session's GET stream).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp import types
from mcp.server.mcpserver import Context, MCPServer

STDIO = sys.argv[1] == "stdio"
PORT = 0 if STDIO else int(sys.argv[1])
HEADERS_LOG = Path(sys.argv[2])
JSON_ANSWERS = "--json" in sys.argv[3:]

server = MCPServer("remote-test")


def _log(ctx: Context) -> str:
    value = (ctx.headers or {}).get("authorization", "")
    with HEADERS_LOG.open("a") as log:
        log.write(value + "\n")
    return value


@server.tool()
def echo(text: str, ctx: Context) -> str:
    """Say the text back."""
    _log(ctx)
    return text


@server.tool()
def whoami(ctx: Context) -> str:
    """The credential this call carried."""
    return f"you sent {_log(ctx)}"


def extra(n: int) -> str:
    """A tool that appears later."""
    return str(n * 2)


def echo_loud(text: str, loud: bool = False) -> str:
    """Say the text back, louder if asked."""
    return text.upper() if loud else text


@server.tool()
async def grow(ctx: Context, via: str = "post") -> str:
    """Add a tool and change another's schema, then say so."""
    _log(ctx)
    server.add_tool(extra)
    server.remove_tool("echo")
    server.add_tool(echo_loud, name="echo")
    related = ctx.request_id if via == "post" else None
    await ctx.session.send_notification(types.ToolListChangedNotification(), related)
    return "grown"


if __name__ == "__main__" and STDIO:
    server.run("stdio")
elif __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=PORT, json_response=JSON_ANSWERS)
