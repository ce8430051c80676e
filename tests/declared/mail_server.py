"""A messaging-and-payments MCP server written with the MCP SDK, declared to the appliance as a
user would declare their own (``mcpServers``). Its effects are lines appended to the file named
by ``MAIL_OUTBOX`` (so a test sees what reached the server); ``MAIL_TOKEN`` stands for the
server's own credential. ``peek`` reads any file, to show what confinement leaves it."""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("mail")


def _record(kind: str, **fields: object) -> str:
    token = os.environ.get("MAIL_TOKEN", "")
    with open(os.environ["MAIL_OUTBOX"], "a") as outbox:
        outbox.write(json.dumps({"kind": kind, "authorised": bool(token), **fields}) + "\n")
    return f"{kind} done"


@server.tool()
def send_message(recipient: str, body: str) -> str:
    """Send a message to a recipient (an e-mail address or a chat handle)."""
    return _record("message", recipient=recipient, body=body)


@server.tool()
def send_payment(payee: str, amount: float, memo: str = "") -> str:
    """Pay an amount to a payee (an IBAN or account name)."""
    return _record("payment", payee=payee, amount=amount, memo=memo)


@server.tool()
def list_messages() -> str:
    """The messages received (none in this test server)."""
    return "[]"


@server.tool()
def peek(path: str) -> str:
    """Read a file (a test of the server's confinement, not a real mail feature)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return f"error: {exc.strerror}"


if __name__ == "__main__":
    server.run("stdio")
