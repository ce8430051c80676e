"""The stdio core answers every request, whatever the request held."""

from __future__ import annotations

import io
import json

from servers.wire.server import StdioServer, Tool, ToolResult


def _serve(*lines: bytes) -> list[dict]:
    echo = Tool(
        "echo",
        "echo",
        {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        lambda args: ToolResult(args["text"]),
    )
    out = io.BytesIO()
    StdioServer("t", "0", [echo]).run(io.BytesIO(b"\n".join(lines) + b"\n"), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _call(request_id: int, name: str, arguments: dict) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
    message["params"] = {"name": name, "arguments": arguments}
    return json.dumps(message).encode()


def test_lone_surrogates_are_refused_with_an_answer():
    # A lone surrogate cannot be audited nor re-sent as UTF-8: the whole message is refused.
    replies = _serve(_call(1, "\ud800x", {}), _call(2, "echo", {"text": "a\udfffb"}))
    assert len(replies) == 2
    for reply in replies:
        assert reply["error"]["code"] == -32700
        assert "lone surrogate" in reply["error"]["message"]


def test_junk_and_unknown_methods_get_errors_not_silence():
    replies = _serve(
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 3, "method": "resources/list"}',
        b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo"}}',
    )
    assert replies[0]["error"]["code"] == -32700
    assert replies[1]["error"]["code"] == -32601
    assert "missing required argument 'text'" in replies[2]["result"]["content"][0]["text"]
