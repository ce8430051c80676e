"""Fuzz per entry point (issue 14): random JSON-RPC, random nesting, NaN and huge strings never
raise in the host, every line gets its answer, bounded state returns to zero, and every call
that reached the chokepoint-side hook is one that was parsed (the hook stands where the
chokepoint, which audits it, stands on the gate and mcp-proxy)."""

from __future__ import annotations

import io
import json

from esc_like import trequest_like
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.chokepoint.escalation.files import parse_response
from appliance.sandbox.bridge import ToolBridge
from appliance.sandbox.limits import Limits
from servers.wire.server import StdioServer, ToolResult

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
_value = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_nesting = st.builds(
    lambda depth, opener: opener * depth + "1" + ("]" if opener == "[" else "}") * depth,
    st.integers(0, 3000),
    st.sampled_from(["[", '{"a":']),
)
_token = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", '"\\ud800"', '"' + "A" * 5000 + '"']
)


def _message(request_id: int, method: str, body: str) -> bytes:
    return (
        f'{{"jsonrpc":"2.0","id":{request_id},"method":"{method}",'
        f'"params":{{"name":"srv__tool","arguments":{{"x":{body}}}}}}}\n'
    ).encode()


_line = st.one_of(
    st.builds(lambda v: json.dumps(v, allow_nan=True).encode() + b"\n", _value),
    st.builds(_message, st.integers(1, 99), st.sampled_from(["tools/call", "ping", "x"]), _nesting),
    st.builds(_message, st.integers(1, 99), st.just("tools/call"), _token),
    st.builds(_message, st.integers(1, 99), st.just("tools/call"), _value.map(json.dumps)),
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ") + b"\n"),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, min_size=1, max_size=12))
def test_gate_style_server_never_raises_and_stays_bounded(lines: list[bytes]) -> None:
    reached: list[tuple[str, object]] = []

    def chokepoint(name: str, arguments: object) -> ToolResult:
        reached.append((name, arguments))
        json.dumps(arguments, allow_nan=False)  # what reaches it can be audited
        return ToolResult("DENIED: fuzz", is_error=True)

    server = StdioServer(
        "t", "1", [], validate=False, unknown=chokepoint, max_message_bytes=64 * 1024
    )
    out = io.BytesIO()
    server.run(io.BytesIO(b"".join(lines)), out)
    replies = [json.loads(r) for r in out.getvalue().splitlines()]
    assert server.pending == 0 and server.inflight_bytes == 0
    answered_calls = sum(1 for r in replies if "result" in r and "content" in r["result"])
    assert answered_calls == len(reached)  # every call that reached the hook was answered
    for reply in replies:
        assert reply["jsonrpc"] == "2.0" and ("result" in reply or "error" in reply)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        _nesting, _token, _value.map(lambda v: json.dumps(v, allow_nan=True)), st.text(max_size=300)
    )
)
def test_sandbox_bridge_never_raises_and_only_plain_json_objects_pass(args_json: str) -> None:
    passed: list[str] = []

    def call_tool(name: str, text: str) -> tuple[bool, str]:
        passed.append(text)
        return True, "ok"

    catalog = [{"server": "s", "name": "t", "description": "", "required": [], "properties": {}}]
    bridge = ToolBridge(call_tool, catalog, Limits())
    ok, text = bridge("s.t", args_json)
    if passed:
        value = json.loads(passed[0])
        assert isinstance(value, dict)
        json.dumps(value, allow_nan=False).encode("utf-8")
    else:
        assert not ok and text.startswith("ERROR: ")


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), _nesting.map(str.encode), _token.map(str.encode)))
def test_escalation_response_parser_never_raises(data: bytes) -> None:
    approved, scope, _problem = parse_response(data, trequest_like())
    assert approved is False and scope == "once"
