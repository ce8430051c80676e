"""A scripted LLM on loopback that speaks the OpenAI and Anthropic chat APIs.

The demo and the tests never call a real model: they point litellm's normal client at this
server (a real HTTP round trip on 127.0.0.1), which answers from a script. A step of the script is
either a fixed reply or a function of the conversation so far, so a scripted agent can react to
what the sandbox and the policy told it (a denial, a file's content).

Reply shapes: ``{"text": "..."}`` for a final answer, ``{"code": "..."}`` for an
``execute_code`` tool call, ``{"tool": NAME, "arguments": {...}}`` for any other tool call.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedLLM", "Step"]

Reply = dict[str, Any]
Step = Reply | Callable[[list[dict[str, Any]]], Reply]

_USAGE = {"prompt_tokens": 120, "completion_tokens": 40}


class ScriptedLLM:
    """``with ScriptedLLM(steps) as llm: llm.openai_base`` / ``llm.anthropic_base``."""

    def __init__(self, steps: Sequence[Step], *, fallback: Reply | None = None) -> None:
        self._steps = list(steps)
        self._fallback = fallback or {"text": "(the script has no more steps)"}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def openai_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_reply(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            step = self._steps.pop(0) if self._steps else self._fallback
        return step(messages) if callable(step) else step

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"


def _tool_call(reply: Reply) -> tuple[str, dict[str, Any]] | None:
    if "code" in reply:
        return "execute_code", {"code": reply["code"]}
    if "tool" in reply:
        return reply["tool"], reply.get("arguments", {})
    return None


def openai_response(llm: ScriptedLLM, reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("text")}
    finish = "stop"
    call = _tool_call(reply)
    if call is not None:
        name, arguments = call
        message["tool_calls"] = [
            {
                "id": llm.new_id("call_"),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ]
        finish = "tool_calls"
    usage = {**_USAGE, "total_tokens": sum(_USAGE.values())}
    return {
        "id": llm.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def anthropic_response(llm: ScriptedLLM, reply: Reply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.get("text"):
        content.append({"type": "text", "text": reply["text"]})
    call = _tool_call(reply)
    if call is not None:
        name, arguments = call
        content.append(
            {"type": "tool_use", "id": llm.new_id("toolu_"), "name": name, "input": arguments}
        )
    return {
        "id": llm.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if call else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _USAGE["prompt_tokens"],
            "output_tokens": _USAGE["completion_tokens"],
        },
    }


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "request body is not JSON"}})
                return
            messages = body.get("messages", [])
            model = body.get("model", "scripted")
            if self.path.rstrip("/").endswith("/chat/completions"):
                reply = llm.next_reply(messages, body)
                self._send(200, openai_response(llm, reply, model))
            elif self.path.rstrip("/").endswith("/messages"):
                reply = llm.next_reply(messages, body)
                self._send(200, anthropic_response(llm, reply, model))
            else:
                self._send(404, {"error": {"message": f"no such endpoint {self.path}"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the demo's output is the session, not HTTP logs

    return Handler
