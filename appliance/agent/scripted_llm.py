"""A scripted LLM on loopback that speaks the OpenAI, Anthropic and Gemini chat APIs.

The demo and the tests never call a real model: they point litellm's normal client at this
server (a real HTTP round trip on 127.0.0.1), which answers from a script. A step of the script is
either a fixed reply or a function of the conversation so far, so a scripted agent can react to
what the sandbox and the policy told it (a denial, a file's content).

Reply shapes: ``{"text": "..."}`` for a final answer, ``{"code": "..."}`` for an
``execute_code`` tool call, ``{"tool": NAME, "arguments": {...}}`` for any other tool call,
``{"status": 401}`` for an HTTP error in the provider's own error shape. ``"delay": SECONDS`` in
any reply holds the answer back that long (a slow model, for Ctrl-C and progress tests).

Routes, as litellm's normal clients call them: ``…/chat/completions`` (OpenAI), ``…/messages``
(Anthropic), ``…/models/MODEL:generateContent`` (Gemini; its ``contents`` are handed to a step
as OpenAI-like messages, so one script serves every route).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedLLM", "Step"]

Reply = dict[str, Any]
Step = Reply | Callable[[list[dict[str, Any]]], Reply]

_USAGE = {"prompt_tokens": 120, "completion_tokens": 40}


class ScriptedLLM:
    """``with ScriptedLLM(steps) as llm: llm.openai_base`` / ``llm.anthropic_base``."""

    def __init__(self, steps: Sequence[Step], *, fallback: Step | None = None) -> None:
        self._steps = list(steps)
        self._fallback = fallback or {"text": "(the script has no more steps)"}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self.routes: list[str] = []  # which API each request used: openai, anthropic, gemini
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll: shutdown() waits up to one interval, and the demo ends through it.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def openai_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def google_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

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


def gemini_response(llm: ScriptedLLM, reply: Reply, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if reply.get("text"):
        parts.append({"text": reply["text"]})
    call = _tool_call(reply)
    if call is not None:
        name, arguments = call
        parts.append({"functionCall": {"name": name, "args": arguments}})
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": _USAGE["prompt_tokens"],
            "candidatesTokenCount": _USAGE["completion_tokens"],
            "totalTokenCount": sum(_USAGE.values()),
        },
        "modelVersion": model,
        "responseId": llm.new_id("resp_"),
    }


def gemini_messages(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemini ``contents`` as OpenAI-like messages: what a step function reads."""
    out: list[dict[str, Any]] = []
    for entry in contents:
        for part in entry.get("parts", []):
            if "text" in part:
                role = "assistant" if entry.get("role") == "model" else "user"
                out.append({"role": role, "content": part["text"]})
            elif "functionResponse" in part:
                response = part["functionResponse"].get("response", {})
                out.append({"role": "tool", "content": json.dumps(response)})
            elif "functionCall" in part:
                out.append({"role": "assistant", "content": None, "tool_calls": [part]})
    return out


def error_body(route: str, status: int) -> dict[str, Any]:
    message = {401: "invalid x-api-key", 404: "model not found", 429: "rate limited"}.get(
        status, "scripted server error"
    )
    if route == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    if route == "gemini":
        return {"error": {"code": status, "message": message, "status": "UNAVAILABLE"}}
    return {"error": {"message": message, "type": "server_error", "code": str(status)}}


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: with Nagle's algorithm the body waits for the
        # client's delayed ACK, 40 ms on every model step of a kept-alive connection.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "request body is not JSON"}})
                return
            path = self.path.split("?", 1)[0].rstrip("/")
            model = body.get("model", "scripted")
            if path.endswith("/chat/completions"):
                route, messages, shape = "openai", body.get("messages", []), openai_response
            elif path.endswith("/messages"):
                route, messages, shape = "anthropic", body.get("messages", []), anthropic_response
            elif path.endswith(":generateContent"):
                model = path.rsplit("/", 1)[-1].removesuffix(":generateContent")
                route, messages = "gemini", gemini_messages(body.get("contents", []))
                shape = gemini_response
            else:
                self._send(404, {"error": {"message": f"no such endpoint {self.path}"}})
                return
            llm.routes.append(route)
            reply = llm.next_reply(messages, body)
            time.sleep(float(reply.get("delay", 0)))
            if "status" in reply:
                self._send(int(reply["status"]), error_body(route, int(reply["status"])))
            else:
                self._send(200, shape(llm, reply, model))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up (a cancelled request): nothing to tell it

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the demo's output is the session, not HTTP logs

    return Handler
