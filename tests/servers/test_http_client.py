"""The Streamable HTTP client (servers/wire/http_client.py) on its own: the session headers it
keeps, the server's requests it answers mid-stream, concurrent calls, its URL check. Against a
scripted endpoint (tests/declared/scripted_remote.py) and the MCP SDK's own server."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from servers.wire.client import ProtocolError, RemoteError
from servers.wire.http_client import HttpClient, url_problem
from tests.declared.remote_helpers import sdk_remote
from tests.declared.scripted_remote import ScriptedRemote

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_session_id_and_protocol_version_follow_initialize_and_delete_ends_it() -> None:
    with ScriptedRemote() as remote:
        async with HttpClient(remote.url, headers={"X-Key": "k-1"}) as client:
            await client.initialize()
            await client.call_tool("probe", {})
    first, *later = remote.seen
    assert "Mcp-Session-Id" not in first and "MCP-Protocol-Version" not in first
    assert first["Accept"] == "application/json, text/event-stream"
    for headers in later:
        assert headers["Mcp-Session-Id"] == "s-1"
        assert headers["MCP-Protocol-Version"] == "2025-06-18"
        assert headers["X-Key"] == "k-1"
    methods = [b.get("method") for b in remote.bodies]
    assert methods == ["initialize", "notifications/initialized", "tools/call"]
    assert len(remote.seen) == 5  # the three POSTs, the GET (405 here) and the DELETE


async def test_a_request_from_the_server_mid_stream_is_answered_and_the_call_completes() -> None:
    events = [
        {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"},
        {"jsonrpc": "2.0", "id": "srv-2", "method": "sampling/createMessage", "params": {}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}},
        {"jsonrpc": "2.0", "id": 999999, "result": {"content": []}},  # not ours: passed over
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    body += (
        'data: {"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"ok"}]}}\n\n'
    )
    answer = {"headers": {"Content-Type": "text/event-stream"}, "body": body}
    heard: list[str] = []
    with ScriptedRemote(answer) as remote:
        async with HttpClient(remote.url) as client:
            client.on_notification = lambda method, params: heard.append(method)
            await client.initialize()
            result = await client.call_tool("probe", {})
    assert result["content"][0]["text"] == "ok"
    replies = {b["id"]: b for b in remote.bodies if "method" not in b}
    assert replies["srv-1"]["result"] == {}
    assert replies["srv-2"]["error"]["code"] == -32601  # we offer no sampling
    assert heard == ["notifications/progress"]


async def test_a_json_rpc_error_leaves_the_connection_usable() -> None:
    error = '{"jsonrpc":"2.0","id":{id},"error":{"code":-32602,"message":"bad"}}'
    answer = {"headers": {"Content-Type": "application/json"}, "body": error}
    with ScriptedRemote(answer) as remote:
        async with HttpClient(remote.url) as client:
            await client.initialize()
            with pytest.raises(RemoteError, match="bad"):
                await client.call_tool("probe", {})
            assert client.broken is None
            assert (await client.list_tools())[0]["name"] == "probe"


async def test_concurrent_calls_over_one_session(tmp_path: Path) -> None:
    with sdk_remote(tmp_path) as server:
        async with HttpClient(server.url) as client:
            await client.initialize()
            results: dict[int, str] = {}

            async def one(n: int) -> None:
                answer = await client.call_tool("echo", {"text": f"n{n}"})
                results[n] = answer["content"][0]["text"]

            async with anyio.create_task_group() as group:
                for n in range(20):
                    group.start_soon(one, n)
    assert results == {n: f"n{n}" for n in range(20)}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com/mcp", "plain http to example.com would send the headers"),
        ("http://127.0.0.1.example.com/mcp", "plain http"),
        ("https://u:p@example.com/mcp", "user info"),
        ("ftp://example.com/mcp", "http(s)"),
        ("http://127.0.0.2:9/mcp", None),
        ("http://[::1]:9/mcp", None),
        ("https://example.com/mcp", None),
    ],
)
def test_the_transport_checks_the_url_again(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert (found is None) if problem is None else (problem in (found or "")), found
    if problem is not None:
        with pytest.raises(ValueError, match="url"):
            HttpClient(url)


async def test_a_tool_list_that_cannot_be_read_again_refuses_the_servers_calls() -> None:
    """After ``tools/list_changed`` the pool reads the list again; a server that answers that
    with garbage gets no call through (fail closed), and is started afresh afterwards."""
    from appliance.chokepoint.server_pool import ServerCallError, ServerPool, ServerSpec

    changed = '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'
    done = '{"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"done"}]}}'
    call = {"headers": {"Content-Type": "text/event-stream"},
            "body": f"data: {changed}\n\ndata: {done}\n\n"}  # fmt: skip
    garbage = {"on": "tools/list", "from": 2, "headers": {"Content-Type": "application/json"},
               "body": "<html>"}  # fmt: skip
    with ScriptedRemote(call, garbage) as remote:
        spec = ServerSpec("remote", url=remote.url)
        async with ServerPool([spec], start_timeout_s=20) as pool:
            heard: list = []
            pool.on_tools_changed = lambda server, change: heard.append(change)
            assert (await pool.call("remote", "probe", {})).text == "done"
            with pytest.raises(ServerCallError, match="new tool list is unreadable"):
                await pool.tools("remote")
            with pytest.raises(ServerCallError):  # a new connection: its tools/list is garbage too
                await pool.tools("remote")
    assert heard == []


async def test_a_stream_closed_before_the_answer_is_resumed_after_its_retry() -> None:
    """2025-11-25 polling: the server primes the call's stream with an event id and a retry,
    closes it, and answers on the GET that resumes from that id."""
    done = 'data: {"jsonrpc":"2.0","id":{id},"result":{"content":[{"type":"text","text":"later"}]}}'
    sse = {"Content-Type": "text/event-stream"}
    primed = "id: ev-1\nretry: 200\ndata: \n\n"
    call = {"headers": sse, "body": primed, "resume": f"id: ev-2\n{done}\n\n"}
    with ScriptedRemote(call) as remote:
        async with HttpClient(remote.url) as client:
            await client.initialize()
            began = anyio.current_time()
            result = await client.call_tool("probe", {})
            waited = anyio.current_time() - began
    assert result["content"][0]["text"] == "later"
    assert waited >= 0.2  # the retry the server asked for
    resumed = [h for h in remote.seen if "Last-Event-ID" in h]
    assert resumed and resumed[0]["Last-Event-ID"] == "ev-1"
    assert resumed[0]["Mcp-Session-Id"] == "s-1"


async def test_a_stream_that_never_answers_is_given_up_after_bounded_resumptions() -> None:
    primed = "id: ev-1\nretry: 10\ndata: \n\n"
    call = {"headers": {"Content-Type": "text/event-stream"}, "body": primed, "resume": primed}
    with ScriptedRemote(call) as remote:
        async with HttpClient(remote.url) as client:
            await client.initialize()
            with pytest.raises(ProtocolError, match="ended without the answer"):
                await client.call_tool("probe", {})
    assert len([h for h in remote.seen if "Last-Event-ID" in h]) == 5
