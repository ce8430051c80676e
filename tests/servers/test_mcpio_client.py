"""The host's light MCP client (``servers.wire.client``) against real servers: ours, one written
with the SDK's own ``MCPServer``, and a scripted one that breaks the protocol in each way a
semi-trusted server could. Every failure is a short ``ClientError``, never a hang or a
RecursionError, and a broken server is killed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.server_pool import ServerPool, ServerSpec
from servers.wire.client import ProtocolError, RemoteError, StdioClient

pytestmark = pytest.mark.anyio
HERE = Path(__file__).parent
REPO = HERE.parents[1]


def scripted(mode: str, **options) -> StdioClient:
    return StdioClient([sys.executable, str(HERE / "scripted_mcp_server.py"), mode], **options)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


async def test_our_filesystem_server_over_the_light_client(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    argv = [sys.executable, "-m", "appliance.cli", "serve", "filesystem", str(tmp_path)]
    async with StdioClient(argv, env=_env(), cwd=str(REPO)) as client:
        info = await client.initialize()
        tools = {t["name"] for t in await client.list_tools()}
        result = await client.call_tool("read_text_file", {"path": str(tmp_path / "a.txt")})
    assert info["serverInfo"]["name"] and info["protocolVersion"] == "2025-11-25"
    assert "read_text_file" in tools and len(tools) == 14
    assert result["content"] == [{"type": "text", "text": "hello"}]
    assert result["isError"] is False


async def test_a_server_written_with_the_sdk_works_through_the_pool():
    spec = ServerSpec("sdk", argv=(sys.executable, str(HERE / "sdk_example_server.py")))
    async with ServerPool([spec]) as pool:
        tools = await pool.tools("sdk")
        added = await pool.call("sdk", "add", {"a": 2, "b": 40})
        failed = await pool.call("sdk", "fail", {"reason": "on purpose"})
        again = await pool.call("sdk", "add", {"a": 1, "b": 1})
    assert set(tools) == {"add", "fail"}
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert (added.text, added.is_error, added.structured) == ("42", False, {"result": 42})
    assert failed.is_error and failed.text == "Error executing tool fail"
    assert again.text == "2"


async def test_pages_notifications_and_requests_from_the_server():
    async with scripted("chatty") as client:
        await client.initialize()
        names = [t["name"] for t in await client.list_tools()]
        result = await client.call_tool("one", {})
    assert names == ["one", "two", "three"]
    ping, roots = json.loads(result["content"][0]["text"])
    assert ping == {"jsonrpc": "2.0", "id": "srv-1", "result": {}}
    assert roots["id"] == "srv-2" and roots["error"]["code"] == -32601


async def test_an_error_answer_leaves_the_connection_usable():
    async with scripted("error") as client:
        await client.initialize()
        with pytest.raises(RemoteError) as caught:
            await client.call_tool("one", {})
        second = await client.call_tool("one", {})
    assert (caught.value.code, caught.value.message) == (-32602, "bad")
    assert second["content"][0]["text"] == "called one"


async def test_an_answer_to_no_request_is_ignored():
    async with scripted("stranger") as client:
        await client.initialize()
        result = await client.call_tool("two", {})
    assert result["content"][0]["text"] == "called two"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("deep", "nested too deeply"),
        ("deep-structured", "structuredContent nested deeper than 64"),
        ("long", "longer than 1048576 bytes"),
        ("garbage", "not JSON"),
    ],
)
async def test_a_server_breaking_the_protocol_ends_the_connection(mode, message):
    async with scripted(mode, max_line=1024 * 1024) as client:
        await client.initialize()
        with anyio.fail_after(10), pytest.raises(ProtocolError, match=message):
            await client.call_tool("one", {})
        with pytest.raises(ProtocolError):
            await client.call_tool("one", {})  # the connection stays closed
        if mode != "deep-structured":  # a bad line kills the server; a bad result does not
            with anyio.fail_after(5):
                await client._process.wait()


@pytest.mark.parametrize("poll_s", [0.0, 0.005, 5.0])
async def test_polling_for_an_answer_leaves_the_loop_free_and_stops_at_its_budget(poll_s):
    # The client polls (turns the event loop without sleeping) for up to poll_s while the
    # server works, then sleeps on the answer: other tasks run meanwhile, a slow answer still
    # arrives, and a short budget does not burn the CPU for the whole wait.
    # Whether the loop slept is read from the loop itself: each wait of its selector with a
    # timeout other than zero is a sleep. Neither CPU time nor the kernel's count of voluntary
    # context switches can tell on a loaded machine (a thread that never sleeps gets a fraction
    # of a core, and blocks on the GIL behind threads earlier tests left).
    ticks = 0
    sleeps = _count_sleeps(asyncio.get_running_loop())

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async with scripted("slow", poll_s=poll_s) as client:
        await client.initialize()
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            cpu, slept = time.thread_time(), len(sleeps)
            with anyio.fail_after(10):
                result = await client.call_tool("one", {"ms": 300})
            cpu, slept = time.thread_time() - cpu, len(sleeps) - slept
            group.cancel_scope.cancel()
    assert result["content"][0]["text"] == "called one"
    assert ticks >= 10  # the loop kept running other tasks during the 300 ms
    if poll_s < 1:
        assert cpu < 0.15  # polling stopped long before the answer came
        assert slept >= 10  # then the loop slept between the ticker's turns
    else:
        assert slept <= 2, slept  # the budget covered the whole wait: the loop never slept


def _count_sleeps(loop: asyncio.AbstractEventLoop) -> list[float | None]:
    """A list that grows by one each time ``loop`` waits on its selector with a timeout other
    than zero (it sleeps until I/O or a timer); for the rest of the loop's life."""
    selector = loop._selector  # type: ignore[attr-defined]  # the selector event loop's
    select, sleeps = selector.select, []

    def counted(timeout: float | None = None):
        if timeout is None or timeout > 0:
            sleeps.append(timeout)
        return select(timeout)

    selector.select = counted
    return sleeps


async def test_a_server_that_dies_fails_the_waiting_call():
    async with StdioClient([sys.executable, "-c", "import sys; sys.stdin.readline()"]) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError, match="closed its output"):
            await client.initialize()


async def test_a_command_that_cannot_start_is_a_clear_error(tmp_path):
    with pytest.raises(ProtocolError, match="cannot start"):
        async with StdioClient([str(tmp_path / "missing")]):
            pass


CRASH = (
    "import sys; sys.stderr.write('starting\\nfatal: no \\x1b[31mrepo\\x1b[0m here\\n\\n');"
    " sys.exit(3)"
)


async def test_a_server_that_exits_says_how_and_its_last_words():
    """Session 23: a server that dies before answering is named with its exit status and the
    last line of its standard error (printable characters only: it reaches a terminal)."""
    async with StdioClient([sys.executable, "-c", CRASH], keep_stderr=4096) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError) as failed:
            await client.initialize()
    assert str(failed.value) == (
        "the server closed its output (exit status 3: fatal: no ?[31mrepo?[0m here)"
    )


async def test_only_the_end_of_standard_error_is_kept():
    noisy = "import sys; sys.stderr.write('x' * 100000 + '\\nlast words\\n'); sys.exit(1)"
    async with StdioClient([sys.executable, "-c", noisy], keep_stderr=64) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError, match="exit status 1: last words"):
            await client.initialize()
        assert len(client._tail) <= 64


async def test_the_pool_says_why_a_server_did_not_start():
    from appliance.chokepoint.server_pool import ServerCallError

    spec = ServerSpec("broken", argv=(sys.executable, "-c", CRASH))
    async with ServerPool([spec]) as pool:
        with pytest.raises(ServerCallError) as failed:
            await pool.tools("broken")
    assert str(failed.value) == (
        "the broken server did not start: the server closed its output "
        "(exit status 3: fatal: no ?[31mrepo?[0m here)"
    )
    assert failed.value.server_text is not None
