"""A scripted OpenAI Responses API on 127.0.0.1 (real TLS, as `api.openai.com`) for the Codex
end-to-end: it plays a fixed conversation and records every request it receives.

Codex offers an MCP server's tools as a `namespace` tool (`mcp__<server>`) holding plain
`function` tools, and a call names both (`"namespace"`, `"name"`). The script, for a request that
offers our gate's namespace: first a call of `filesystem__list_allowed_directories`, then one of
`filesystem__read_text_file` on `denied_path`, then the text `E2E-DONE`. The step is the number
of `function_call_output` items in the request's input. Any other request (a title, a summary)
gets a short text answer. Codex streams (`"stream": true`): the answer is server-sent events
ending in `response.completed`, with usage in it, as the real API sends them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.credproxy.credproxy_fakes import serve_tls

DONE = "E2E-DONE"
NAMESPACE = "mcp__ironcurtain"
LISTED = "filesystem__list_allowed_directories"
READ = "filesystem__read_text_file"
USAGE = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
         "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0},
         "total_tokens": 120}  # fmt: skip
_ids = itertools.count(1)


@dataclass
class Conversation:
    denied_path: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)  # path, authorization, body
    tool_results: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)  # the gate's tools as Codex offered them

    def reply(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The output items for one request."""
        gate = next(
            (t for t in body.get("tools") or [] if t.get("type") == "namespace"
             and t.get("name") == NAMESPACE),
            None,
        )  # fmt: skip
        if gate is None:
            return [_message("ok")]
        self.offered = [t.get("name", "") for t in gate.get("tools") or []]
        items = body.get("input") if isinstance(body.get("input"), list) else []
        outputs = [
            i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        self.tool_results = [json.dumps(i.get("output")) for i in outputs]
        if not outputs:
            return [_call(LISTED, {})]
        if len(outputs) == 1:
            return [_call(READ, {"path": self.denied_path})]
        return [_message(DONE)]


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": f"msg_{next(_ids)}", "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    number = next(_ids)
    return {"type": "function_call", "id": f"fc_{number}", "call_id": f"call_{number}",
            "namespace": NAMESPACE, "name": name, "arguments": json.dumps(arguments),
            "status": "completed"}  # fmt: skip


def sse(items: list[dict[str, Any]], model: str) -> bytes:
    """The Responses API's stream for a response whose output is `items`."""
    ident = f"resp_{next(_ids)}"
    base = {"id": ident, "object": "response", "model": model, "output": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**base, "status": "in_progress"}},
    ]
    for index, item in enumerate(items):
        events.append({"type": "response.output_item.added", "output_index": index,
                       "item": {**item, "status": "in_progress"}})  # fmt: skip
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append({"type": "response.output_text.delta", "item_id": item["id"],
                           "output_index": index, "content_index": 0, "delta": text})  # fmt: skip
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    done = {**base, "status": "completed", "output": items, "usage": USAGE}
    events.append({"type": "response.completed", "response": done})
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def serve(conversation: Conversation, cert: Path, key: Path) -> ThreadingHTTPServer:
    """Serve over TLS (`cert`, `key`) on an ephemeral loopback port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            authorization = self.headers.get("authorization")
            conversation.requests.append(
                {"path": self.path, "authorization": authorization, "body": body}
            )
            if self.path != "/v1/responses":
                missing = b'{"error": {"message": "not scripted"}}'
                return self._send(404, missing, "application/json")
            items = conversation.reply(body)
            model = body.get("model", "gpt-5")
            if body.get("stream"):
                return self._send(200, sse(items, model), "text/event-stream")
            done = {"id": f"resp_{next(_ids)}", "object": "response", "model": model,
                    "status": "completed", "output": items, "usage": USAGE}  # fmt: skip
            return self._send(200, json.dumps(done).encode(), "application/json")

        def _send(self, status: int, data: bytes, media: str) -> None:
            self.send_response(status)
            self.send_header("content-type", media)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = serve_tls(Handler, cert, key)
    conversation.port = server.server_address[1]
    return server
