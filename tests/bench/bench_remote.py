"""Figures for remote MCP servers over Streamable HTTP: `python tests/bench/bench_remote.py`.

The server is the MCP SDK's Streamable HTTP server on loopback (tests/declared/remote_server.py),
in SSE answer mode and in JSON answer mode; the client is the host's (servers/wire/http_client.py)
as the server pool drives it. For scale, the same server over stdio through the host's stdio
client. Loopback removes the network, so a figure is the two ends' own cost: what a remote
server adds on top of its network round trip.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from figures import figure, load_average  # noqa: E402 - after the path set-up

from servers.wire.client import McpClient, StdioClient  # noqa: E402
from servers.wire.http_client import HttpClient  # noqa: E402
from tests.declared.remote_helpers import SERVER, sdk_remote  # noqa: E402

CALLS = 200
STARTS = 10


async def _median_ms(action: Callable[[], Awaitable[object]], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _handshake(url: str) -> None:
    async with HttpClient(url, headers={"Authorization": "Bearer bench"}) as client:
        await client.initialize()
        await client.list_tools()


async def _calls(client: McpClient) -> float:
    await client.initialize()
    await client.call_tool("echo", {"text": "warm"})
    return await _median_ms(lambda: client.call_tool("echo", {"text": "hello"}), CALLS)


async def main() -> None:
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for mode, json_answers in (("SSE", False), ("JSON", True)):
            with sdk_remote(folder, json_answers=json_answers) as server:
                start = await _median_ms(lambda u=server.url: _handshake(u), STARTS)
                figure(f"remote ({mode} answers): connect, initialize, tools/list, median",
                       start, "ms", target=100)  # fmt: skip
                async with HttpClient(server.url) as client:
                    call = await _calls(client)
                figure(f"remote ({mode} answers): tools/call echo, median", call, "ms", target=5)
        argv = [sys.executable, str(SERVER), "stdio", str(folder / "log")]
        async with StdioClient(argv) as client:
            figure("same server over stdio: tools/call echo, median", await _calls(client), "ms")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    anyio.run(main)
