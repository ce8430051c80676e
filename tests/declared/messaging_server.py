"""A small messaging-style MCP server written with the official SDK, for declared-server tests.

It keeps the messages it "sends" in memory and returns them, so a test can see what reached the
server. Started as a user's own server would be: a stdio command declared in ``mcpServers``.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

app = MCPServer("messaging")
_sent: list[dict[str, object]] = []


@app.tool()
def send_message(recipient: str, body: str) -> str:
    """Send a text message to a recipient."""
    _sent.append({"recipient": recipient, "body": body})
    return f"sent to {recipient} ({len(_sent)} so far)"


@app.tool()
def send_payment(recipient: str, amount: float, memo: str = "") -> str:
    """Pay an amount of money to a recipient."""
    _sent.append({"recipient": recipient, "amount": amount, "memo": memo})
    return f"paid {amount:.2f} to {recipient}"


@app.tool()
def list_sent() -> str:
    """What was sent so far."""
    return repr(_sent)


if __name__ == "__main__":
    app.run("stdio")
