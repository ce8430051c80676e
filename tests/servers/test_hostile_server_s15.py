"""Hostile MCP servers over real stdio, against the host's client and server pool: a server
that never finishes its handshake, one whose tool schema is malformed, one that floods the
host with requests while never reading its input. Each gets a clear error naming it, its
process is cleaned up, and the host neither hangs nor crashes."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.server_pool import ServerCallError, ServerPool, ServerSpec
from servers.wire.client import MAX_TOOLS, ProtocolError, RemoteError, StdioClient

pytestmark = pytest.mark.anyio

_PRELUDE = """
import json, sys, time
def send(m):
    sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
def hello(m):
    send({"jsonrpc": "2.0", "id": m["id"], "result": {"protocolVersion": "2025-11-25",
          "capabilities": {"tools": {}}, "serverInfo": {"name": "hostile", "version": "0"}}})
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / f"{name}.py"
    script.write_text(_PRELUDE + textwrap.dedent(body))
    return script


def _server(tmp_path: Path, name: str, body: str, **spec) -> ServerSpec:
    return ServerSpec(name, argv=(sys.executable, str(_script(tmp_path, name, body))), **spec)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) is gone as far as the server's work goes
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _pids_of(script: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if script.encode() in cmdline and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def test_a_server_that_never_answers_initialize_is_stopped_and_the_pool_closes(tmp_path):
    # It reads its input and never answers: the handshake must not wait forever, each retry
    # must not leave the previous process behind, and the pool must still close.
    mute = _server(tmp_path, "mute", "for line in sys.stdin:\n    pass\n")
    with anyio.fail_after(4):
        async with ServerPool([mute], start_timeout_s=0.3) as pool:
            for _ in range(3):
                with pytest.raises(ServerCallError, match="mute server"):
                    await pool.tools("mute")
            await anyio.sleep(0.3)
            left = _pids_of(str(tmp_path / "mute.py"))
    assert left == [], "every abandoned start's process is stopped"
    assert _pids_of(str(tmp_path / "mute.py")) == []


_MALFORMED_SCHEMAS = """
SCHEMAS = [
    {"type": "object", "properties": {"a": 1, "b": {"type": "string"}}, "required": 5},
    {"type": "object", "properties": ["a"], "required": ["a", 7]},
    {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": "a"},
]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        hello(m)
    elif m.get("method") == "tools/list":
        tools = [{"name": f"t{i}", "inputSchema": s} for i, s in enumerate(SCHEMAS)]
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": tools}})
"""


async def test_malformed_input_schemas_do_not_break_the_agents_catalogue(tmp_path):
    # The catalogue Code Mode gives the agent (exec, the code session) is built from every
    # server's list: one server's malformed schema must not end the session's start.
    odd = _server(tmp_path, "odd", _MALFORMED_SCHEMAS)
    with anyio.fail_after(4):
        async with ServerPool([odd]) as pool:
            entries = [t.catalog_entry() for t in await pool.all_tools()]
    assert entries == [
        {"server": "odd", "name": "t0", "description": "", "required": [],
         "properties": {"a": "any", "b": "string"}},
        {"server": "odd", "name": "t1", "description": "", "required": ["a"], "properties": {}},
        {"server": "odd", "name": "t2", "description": "", "required": [],
         "properties": {"a": ["string", "null"]}},
    ]  # fmt: skip


_DEAF_FLOOD = """
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        hello(m)
    elif m.get("method") == "tools/list":
        tool = {"name": "t", "inputSchema": {"type": "object"}}
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [tool]}})
    elif m.get("method") == "tools/call":
        # requests to the host, whose answers it never reads: the pipe back fills up
        for i in range(100_000):
            send({"jsonrpc": "2.0", "id": f"p{i}", "method": "ping"})
        time.sleep(60)
"""


async def test_a_server_flooding_requests_it_never_reads_answers_to_is_ended(tmp_path):
    # Answering its pings blocks once the pipe to it is full; the host's reader must not stay
    # stuck there (the call waiting its whole timeout, every later call too, the process kept).
    deaf = _server(tmp_path, "deaf", _DEAF_FLOOD, call_timeout_s=60)
    with anyio.fail_after(4.5):
        async with ServerPool([deaf]) as pool:
            await pool.tools("deaf")
            pid = pool._connections["deaf"].client.pid
            with pytest.raises(ServerCallError, match="deaf server failed"):
                await pool.call("deaf", "t", {})
            await anyio.sleep(0.2)
            assert not _alive(pid)


_ENDLESS_PAGES = """
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        hello(m)
    elif m.get("method") == "tools/list":
        page = int((m.get("params") or {}).get("cursor") or 0)
        tools = [{"name": f"t{page}_{i}", "inputSchema": {"type": "object"}} for i in range(2000)]
        send({"jsonrpc": "2.0", "id": m["id"],
              "result": {"tools": tools, "nextCursor": str(page + 1)}})
"""


async def test_a_tool_list_without_end_is_refused_before_it_fills_the_memory(tmp_path):
    # Pages of 2,000 tools, then another page: the host must not gather them all (1,000 pages
    # of lines up to 64 MB each) before it gives up.
    script = _script(tmp_path, "pages", _ENDLESS_PAGES)
    with anyio.fail_after(4):
        async with StdioClient([sys.executable, str(script)]) as client:
            await client.initialize()
            with pytest.raises(ProtocolError, match=f"more than {MAX_TOOLS} tools"):
                await client.list_tools()


_STOPS_READING = """
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        hello(m)
    elif m.get("method") == "tools/list":
        tool = {"name": "t", "inputSchema": {"type": "object"}}
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [tool]}})
        time.sleep(60)  # and never reads again
"""


async def test_a_request_the_server_never_read_ends_the_connection(tmp_path):
    # The agent's 1 MB argument does not fit the pipe of a server that stopped reading: after
    # the timeout the line would stay queued in the host (one more per call, for ever) and
    # every later call would wait its whole timeout on the same wedged server.
    deaf = _server(tmp_path, "stuck", _STOPS_READING, call_timeout_s=0.5)
    with anyio.fail_after(4.5):
        async with ServerPool([deaf]) as pool:
            await pool.tools("stuck")
            first = pool._connections["stuck"].client.pid
            with pytest.raises(ServerCallError, match="stuck"):
                await pool.call("stuck", "t", {"x": "a" * 1_000_000})
            await anyio.sleep(0.2)
            assert not _alive(first)
            await pool.tools("stuck")  # started afresh
            assert pool._connections["stuck"].client.pid != first


_TWO_ANSWERS = """
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        hello(m)
    elif m.get("method") == "tools/call":
        # two answers to one request in one burst: a result, then an error (or the reverse)
        ok = {"jsonrpc": "2.0", "id": m["id"],
              "result": {"content": [{"type": "text", "text": "the result"}]}}
        bad = {"jsonrpc": "2.0", "id": m["id"], "error": {"code": -1, "message": "the error"}}
        first, second = (ok, bad) if m["params"]["name"] == "ok" else (bad, ok)
        sys.stdout.write(json.dumps(first) + "\\n" + json.dumps(second) + "\\n")
        sys.stdout.flush()
"""


async def test_the_first_answer_to_a_request_stands(tmp_path):
    # A second answer written in the same burst used to overwrite the first before the caller
    # read it (the error won): one request, one answer, the first.
    script = _script(tmp_path, "twice", _TWO_ANSWERS)
    with anyio.fail_after(4):
        async with StdioClient([sys.executable, str(script)]) as client:
            await client.initialize()
            result = await client.call_tool("ok", {})
            assert result["content"][0]["text"] == "the result"
            with pytest.raises(RemoteError, match="the error"):
                await client.call_tool("bad", {})
