"""A scripted Anthropic Messages API on 127.0.0.1 (real TLS, as `api.anthropic.com`) for the
Claude Code end-to-end: it plays a fixed conversation and records every request it receives.

The script, for a request that offers our MCP tools: first a `tool_use` of
`filesystem__list_allowed_directories`, then one of `filesystem__read_text_file` on `denied_path`,
then the text `E2E-DONE` (end of turn). The step is the number of `tool_result` blocks in the
conversation so far. Any other request (Claude Code's side calls: titles, summaries) gets a short
text answer. Streaming (`"stream": true`) is answered as server-sent events, like the real API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.credproxy.credproxy_fakes import serve_tls

TOOL_PREFIX = "mcp__ironcurtain__"
DONE = "E2E-DONE"


@dataclass
class Conversation:
    denied_path: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)  # path, api_key, body
    tool_results: list[str] = field(default_factory=list)
    waited: bool = False

    def reply(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """Content blocks and stop reason for one request."""
        tools = {t.get("name") for t in body.get("tools") or []}
        if f"{TOOL_PREFIX}filesystem__read_text_file" not in tools:
            if "WaitForMcpServers" in tools and not self.waited:
                # Claude Code 2.1's TUI may send the first turn before MCP servers connect; a
                # model then asks to wait for them, as this does once.
                self.waited = True
                return [_tool_use("t0", "WaitForMcpServers", {}, prefix="")], "tool_use"
            return [{"type": "text", "text": "ok"}], "end_turn"
        results = [
            block
            for message in body.get("messages", [])
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if block.get("type") == "tool_result" and block.get("tool_use_id") != "t0"
        ]
        self.tool_results = [json.dumps(r.get("content")) for r in results]
        step = len(results)
        if step == 0:
            return [_tool_use("t1", "filesystem__list_allowed_directories", {})], "tool_use"
        if step == 1:
            path = {"path": self.denied_path}
            return [_tool_use("t2", "filesystem__read_text_file", path)], "tool_use"
        return [{"type": "text", "text": DONE}], "end_turn"


def _tool_use(ident: str, tool: str, arguments: dict, prefix: str = TOOL_PREFIX) -> dict[str, Any]:
    return {"type": "tool_use", "id": ident, "name": prefix + tool, "input": arguments}


def sse(blocks: list[dict[str, Any]], stop: str, model: str) -> bytes:
    message = {"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 100, "output_tokens": 1}}  # fmt: skip
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start",
                                                         "message": message})]  # fmt: skip
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index,
                                     "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": index,
                                     "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]  # fmt: skip
    events += [
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 20},
                           "delta": {"stop_reason": stop, "stop_sequence": None}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def serve(conversation: Conversation, cert: Path, key: Path) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            conversation.requests.append(
                {
                    "path": self.path,
                    "api_key": self.headers.get("x-api-key"),
                    "authorization": self.headers.get("authorization"),
                    "body": body,
                }
            )
            if self.path.startswith("/v1/messages/count_tokens"):
                return self._send(b'{"input_tokens": 100}', "application/json")
            blocks, stop = conversation.reply(body)
            model = body.get("model", "claude-sonnet-4-5")
            if body.get("stream"):
                return self._send(sse(blocks, stop, model), "text/event-stream")
            message = {"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
                       "content": blocks, "stop_reason": stop, "stop_sequence": None,
                       "usage": {"input_tokens": 100, "output_tokens": 20}}  # fmt: skip
            return self._send(json.dumps(message).encode(), "application/json")

        def _send(self, data: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = serve_tls(Handler, cert, key)
    conversation.port = server.server_address[1]
    return server
