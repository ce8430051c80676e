"""A server written with the MCP SDK's own ``MCPServer`` (a third-party implementation of the
wire), for the light client's tests: ``add`` reports progress and logs before answering."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("sdk-example")


@server.tool()
async def add(a: int, b: int, ctx: Context) -> int:
    """Add two numbers."""
    await ctx.info("adding")
    await ctx.report_progress(1, 2)
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always raise."""
    raise ValueError(reason)


if __name__ == "__main__":
    server.run("stdio")
