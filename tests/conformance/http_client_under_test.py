"""The host's Streamable HTTP client as the MCP conformance suite's "client under test".

    npx @modelcontextprotocol/conformance client \
        --command "python tests/conformance/http_client_under_test.py" --scenario initialize

The suite appends its test server's URL and names the scenario in ``MCP_CONFORMANCE_SCENARIO``.
This runs what the server pool runs: initialize, tools/list, and for ``tools_call`` the
scenario's ``add_numbers``; for any other scenario the first tool with no arguments. Needs
Node >= 22 for the suite itself (docs/servers.md, "Remote servers", has the last results).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from servers.wire.http_client import HttpClient


async def main(url: str, scenario: str) -> None:
    async with HttpClient(url, timeout_s=20) as client:
        await client.initialize("ironcurtain-conformance", "0")
        tools = await client.list_tools()
        if scenario == "tools_call":
            print(await client.call_tool("add_numbers", {"a": 2, "b": 3}))
        elif tools:
            print(await client.call_tool(tools[0]["name"], {}))


if __name__ == "__main__":
    anyio.run(main, sys.argv[-1], os.environ.get("MCP_CONFORMANCE_SCENARIO", ""))
