"""A scripted remote MCP endpoint on loopback, for answers no honest server gives: redirects,
oversized bodies, garbage, a broken session id. It speaks just enough Streamable HTTP (initialize,
tools/list, notifications) to get a client to ``tools/call``, whose answer is the script's.

``answer`` (one vector's ``input.answer``): ``status``, ``headers``, and ``body`` (text where
``{id}`` is the request id) or ``bodyBytes`` (a valid JSON-RPC answer padded to that size);
``sse`` sends that body as one SSE event; ``on`` names the method the answer replaces (default
``tools/call``), ``from`` the first occurrence of that method it replaces (default 1); several
answers may be given. ``resume`` is the body a GET with ``Last-Event-ID`` then gets (the
answer of a stream the server closed early). Every request's headers are
kept in ``seen`` and every POSTed message in ``bodies``, so a test can check what reached it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL = {"name": "probe", "description": "answers as scripted", "inputSchema": {"type": "object"}}


class ScriptedRemote:
    def __init__(self, answer: dict[str, Any] | None = None, *later: dict[str, Any]) -> None:
        self.answers = [a for a in (answer, *later) if a]
        self.counts: dict[str, int] = {}
        self.seen: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.resume: tuple[int, str] | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # the stdlib's names
                owner.seen.append(dict(self.headers.items()))
                size = int(self.headers.get("content-length", "0"))
                message = json.loads(self.rfile.read(size))
                owner.bodies.append(message)
                if "id" not in message or "method" not in message:  # notification, reply
                    self._send(202, {}, b"")
                    return
                scripted = owner.script_for(message["method"])
                if scripted is not None:
                    self._scripted(scripted, message["id"])
                else:
                    self._normal(message)

            def do_GET(self) -> None:
                owner.seen.append(dict(self.headers.items()))
                resume = owner.resume
                if resume is None or "Last-Event-ID" not in self.headers:
                    self._send(405, {}, b"")
                    return
                body = resume[1].replace("{id}", str(resume[0])).encode()
                self._send(200, {"Content-Type": "text/event-stream"}, body)

            def do_DELETE(self) -> None:
                owner.seen.append(dict(self.headers.items()))
                self._send(200, {}, b"")

            def _normal(self, message: dict[str, Any]) -> None:
                method = message["method"]
                result: dict[str, Any] = {}
                if method == "initialize":
                    result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                              "serverInfo": {"name": "scripted", "version": "0"}}  # fmt: skip
                elif method == "tools/list":
                    result = {"tools": [TOOL]}
                elif method == "tools/call":
                    result = {"content": [{"type": "text", "text": "plain answer"}]}
                body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result})
                headers = {"Content-Type": "application/json", "Mcp-Session-Id": "s-1"}
                self._send(200, headers, body.encode())

            def _scripted(self, answer: dict[str, Any], request_id: int) -> None:
                if "resume" in answer:  # the answer comes on the GET that resumes
                    owner.resume = (request_id, answer["resume"])
                if "bodyBytes" in answer:
                    head = f'{{"jsonrpc":"2.0","id":{request_id},'
                    head += '"result":{"content":[{"type":"text","text":"'
                    tail = '"}]}}'
                    pad = answer["bodyBytes"] - len(head) - len(tail)
                    body = (head + "x" * pad + tail).encode()
                else:
                    body = str(answer.get("body", "")).replace("{id}", str(request_id)).encode()
                if answer.get("sse"):
                    body = b"data: " + body + b"\n\n"
                self._send(answer.get("status", 200), answer.get("headers", {}), body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def script_for(self, method: str) -> dict[str, Any] | None:
        """The scripted answer for this request: the first whose ``on`` is the method and
        whose ``from`` (default 1) is at most this method's count so far."""
        count = self.counts[method] = self.counts.get(method, 0) + 1
        for answer in self.answers:
            if answer.get("on", "tools/call") == method and count >= answer.get("from", 1):
                return answer
        return None

    def __enter__(self) -> ScriptedRemote:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
