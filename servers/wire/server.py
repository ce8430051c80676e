"""MCP over stdio for the shipped servers, without the SDK's import cost.

Why not the SDK's ``MCPServer``: importing ``mcp`` costs 1.3-1.5 s on these machines (its
pydantic wire models for two protocol eras, httpx, starlette, click), which alone breaks the
300 ms start-to-initialized target for a server the chokepoint starts lazily. The servers
speak the handshake era of the protocol (``initialize`` ... ``2025-11-25``) as newline-delimited
JSON-RPC 2.0; the tests drive them with the real SDK client to prove the wire format.

A server is a list of :class:`Tool` objects, each a handler taking the checked arguments and
returning a :class:`ToolResult`. A handler raising :class:`ToolError` becomes a tool result with
``isError: true`` and the message; any other exception becomes a generic error result (the
traceback goes to stderr for the operator, never to the agent).

Every line is parsed by :func:`policy.safe_json.loads` (size, depth, NaN refused) and the server
holds bounded work per connection: at most ``max_pending`` tools/calls and ``max_inflight_bytes``
of their request lines at once; a line over ``max_message_bytes`` is discarded as it is read
(never buffered whole). A client over a bound gets a JSON-RPC error, never an unbounded queue.

A gate may also talk back while a call runs: :meth:`StdioServer.notify` sends a notification
(progress, logging) and :meth:`StdioServer.request` sends a request (``elicitation/create``)
whose answer comes back as a :class:`concurrent.futures.Future`. Only a response whose id is
one this server sent and still waits for is delivered; any other response is dropped.
:data:`CURRENT_CALL` tells a tool handler which ``tools/call`` it is serving (its progress token).

A ``notifications/cancelled`` naming a request still queued or running cancels it (see
:mod:`servers.wire.cancel`): a queued one never starts, a running one stops where its code
looks, and no answer is sent for it, as the specification asks; one line on stderr tells the
operator. A cancellation naming nothing in flight, or malformed, is ignored.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from policy.safe_json import JSONRefused
from policy.safe_json import loads as safe_loads
from policy.schema import check_arguments
from servers.wire import cancel
from servers.wire.cancel import CallCancelled, Cancellation

__all__ = [
    "CURRENT_CALL",
    "HANDSHAKE_VERSIONS",
    "CallContext",
    "StdioServer",
    "Tool",
    "ToolError",
    "ToolResult",
]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MiB = 1024 * 1024
MAX_MESSAGE_BYTES = 16 * MiB  # one JSON-RPC line
MAX_PENDING_CALLS = 32  # tools/calls queued or running, per connection
MAX_INFLIGHT_BYTES = 48 * MiB  # the request lines of those calls, per connection
_READ_CHUNK = 1 * MiB

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_BUSY = -32000
SERVER_REFUSED = -32001  # a host request (judge) the server refuses, with its reason


@dataclass(frozen=True)
class CallContext:
    """The ``tools/call`` a worker thread is serving: its request id and progress token."""

    request_id: object
    progress_token: str | int | None = None


CURRENT_CALL: ContextVar[CallContext | None] = ContextVar("mcpio_current_call", default=None)


class ToolError(Exception):
    """An error the agent should read: becomes a tool result with ``isError: true``."""


@dataclass(frozen=True)
class ToolResult:
    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    content: list[dict[str, Any]] | None = None  # overrides the single text block (images)

    def to_wire(self) -> dict[str, Any]:
        content = (
            self.content if self.content is not None else [{"type": "text", "text": self.text}]
        )
        out: dict[str, Any] = {"content": content, "isError": self.is_error}
        if self.structured is not None:
            out["structuredContent"] = self.structured
        return out


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Callable[[dict[str, Any]], ToolResult]
    annotations: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.annotations:
            out["annotations"] = self.annotations
        if self.output_schema is not None:
            out["outputSchema"] = self.output_schema
        return out


class StdioServer:
    """Serve ``tools`` over a pair of byte streams (stdin/stdout by default)."""

    def __init__(
        self,
        name: str,
        version: str,
        tools: list[Tool],
        instructions: str | None = None,
        max_workers: int = 4,
        validate: bool = True,
        unknown: Callable[[str, Any], ToolResult] | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_pending: int = MAX_PENDING_CALLS,
        max_inflight_bytes: int = MAX_INFLIGHT_BYTES,
        logging: bool = False,
        methods: Mapping[str, Callable[[Any], dict[str, Any]]] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.instructions = instructions
        self.tools = {tool.name: tool for tool in tools}
        # A gate in front of other servers turns this off: it audits every call, bad ones included.
        self.validate = validate
        # A gate sends names no server offers to the chokepoint (denied and audited there).
        self.unknown = unknown
        self.max_message_bytes = max_message_bytes
        self.max_pending = max_pending
        self.max_inflight_bytes = max_inflight_bytes
        self._load_lock = threading.Lock()
        self.pending = 0
        self.inflight_bytes = 0
        self.last_activity = time.monotonic()
        self._write_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._out: BinaryIO = sys.stdout.buffer
        self.logging = logging  # declare the logging capability (a gate's warnings)
        self.client_capabilities: dict[str, Any] = {}
        self._requests: dict[str, Future[dict[str, Any]]] = {}
        self._inflight = cancel.InFlight()
        # Requests of the host's own beyond MCP (a server's judge: ``ironcurtain/judge``), run on
        # the worker pool under the same bounds as tools/call; a ToolError answers as an error.
        self.methods = dict(methods or {})

    def run(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        reader = stdin or sys.stdin.buffer
        self._out = stdout or sys.stdout.buffer
        try:
            while True:
                line = reader.readline(self.max_message_bytes + 1)
                if not line:
                    break
                self.last_activity = time.monotonic()
                if len(line) > self.max_message_bytes and not line.endswith(b"\n"):
                    self._skip_rest(reader)
                    self._send_error(
                        None,
                        INVALID_REQUEST,
                        f"Request too large (limit {self.max_message_bytes} bytes per message)",
                    )
                elif line.strip():
                    self._dispatch(line)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=False)

    @staticmethod
    def _skip_rest(reader: BinaryIO) -> None:
        """Discard the rest of an overlong line a chunk at a time: memory stays bounded."""
        while True:
            chunk = reader.readline(_READ_CHUNK)
            if not chunk or chunk.endswith(b"\n"):
                return

    def _dispatch(self, line: bytes) -> None:
        try:
            message = safe_loads(line, max_bytes=self.max_message_bytes)
        except JSONRefused as exc:
            self._send_error(None, PARSE_ERROR, f"Parse error: message {exc}")
            return
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self._send_error(None, INVALID_REQUEST, "Invalid request")
            return
        method = message.get("method")
        if not isinstance(method, str):
            self._deliver(message)  # a response to a request of ours, or junk (dropped)
            return
        request_id = message.get("id")
        params = message.get("params") or {}
        if request_id is None:
            if method == "notifications/cancelled":
                self._inflight.cancel(params)
            return  # notifications (initialized, roots/list_changed) need no answer
        if method == "tools/call" or method in self.methods:
            self._submit_call(request_id, params, len(line), method)
            return
        handler = {
            "initialize": self._initialize,
            "ping": lambda _params: {},
            "logging/setLevel": lambda _params: {},
            "tools/list": lambda _params: {"tools": [t.to_wire() for t in self.tools.values()]},
        }.get(method)
        if handler is None:
            self._send_error(request_id, METHOD_NOT_FOUND, f"Method not found: {method}")
            return
        self._send_result(request_id, handler(params))

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion") if isinstance(params, dict) else None
        version = asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1]
        declared = params.get("capabilities") if isinstance(params, dict) else None
        self.client_capabilities = declared if isinstance(declared, dict) else {}
        capabilities: dict[str, Any] = {"tools": {"listChanged": False}}
        if self.logging:
            capabilities["logging"] = {}
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": self.name, "version": self.version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _submit_call(
        self, request_id: object, params: object, size: int, method: str = "tools/call"
    ) -> None:
        with self._load_lock:
            busy = (
                self.pending >= self.max_pending
                or self.inflight_bytes + size > self.max_inflight_bytes
            )
            if not busy:
                self.pending += 1
                self.inflight_bytes += size
        if busy:
            self._send_error(
                request_id,
                SERVER_BUSY,
                f"Server busy: at most {self.max_pending} calls and {self.max_inflight_bytes} "
                "bytes of requests in flight per connection; retry when earlier calls answer",
            )
            return
        cancellation = self._inflight.add(request_id)
        self._pool.submit(self._call_tool, request_id, params, size, method, cancellation)

    def busy(self) -> bool:
        """Whether a call is queued or running (an idle timeout must not cut one off)."""
        with self._load_lock:
            return self.pending > 0

    def _call_tool(
        self,
        request_id: object,
        params: object,
        size: int,
        method: str,
        cancellation: Cancellation,
    ) -> None:
        started = time.monotonic()
        answer: dict[str, Any] | None = None
        try:
            with cancel.bound(cancellation):
                cancellation.check()  # cancelled while queued: never starts
                if method == "tools/call":
                    answer = self._answer_call(request_id, params)
                else:
                    answer = self._answer_method(request_id, method, params)
        except CallCancelled:
            pass
        finally:
            self._inflight.remove(request_id, cancellation)
            if cancellation.finish() and answer is not None:
                self._reply(answer)
            elif cancellation.cancelled:
                seconds = time.monotonic() - started
                cancel.report(self.name, request_id, params, cancellation, seconds, answer is None)
            with self._load_lock:
                self.pending -= 1
                self.inflight_bytes -= size
            self.last_activity = time.monotonic()

    def _answer_call(self, request_id: object, params: object) -> dict[str, Any]:
        meta = params.get("_meta") if isinstance(params, dict) else None
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if isinstance(token, bool) or not isinstance(token, (str, int)):
            token = None
        current = CURRENT_CALL.set(CallContext(request_id, token))
        try:
            result = self.invoke(params)
        except Exception:  # never let a worker die silently; the operator sees the traceback
            traceback.print_exc(file=sys.stderr)
            result = ToolResult("internal error in the tool", is_error=True)
        finally:
            CURRENT_CALL.reset(current)
        try:
            return {"jsonrpc": "2.0", "id": request_id, "result": result.to_wire()}
        except Exception:  # an unencodable result must still answer the request
            traceback.print_exc(file=sys.stderr)
            return _error(request_id, INVALID_PARAMS, "the tool's result could not be encoded")

    def _answer_method(self, request_id: object, method: str, params: object) -> dict[str, Any]:
        try:
            result = self.methods[method](params)
        except ToolError as exc:
            return _error(request_id, SERVER_REFUSED, str(exc))
        except Exception:  # the operator sees the traceback; the host gets an error, not a hang
            traceback.print_exc(file=sys.stderr)
            return _error(request_id, INTERNAL_ERROR, f"internal error in {method}")
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _reply(self, answer: dict[str, Any]) -> None:
        try:
            self._write(answer)
        except Exception:  # an unencodable result must still answer the request
            traceback.print_exc(file=sys.stderr)
            self._write(_error(answer["id"], INVALID_PARAMS, "the result could not be encoded"))

    def invoke(self, params: object) -> ToolResult:
        """Check and run one ``tools/call``; usable in memory by tests."""
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            if self.unknown is not None:  # still the chokepoint's to refuse and audit
                name = params.get("name") if isinstance(params, dict) else None
                return self.unknown(str(name)[:200], {})
            return ToolResult("tools/call needs a tool name", is_error=True)
        tool = self.tools.get(params["name"])
        if tool is None and self.unknown is not None:
            return self.unknown(params["name"], params.get("arguments") or {})
        if tool is None:
            return ToolResult(f"Unknown tool: {params['name']}", is_error=True)
        arguments = params.get("arguments") or {}
        problem = check_arguments(arguments, tool.input_schema) if self.validate else None
        if problem:
            return ToolResult(f"Invalid arguments for {tool.name}: {problem}", is_error=True)
        try:
            return tool.handler(arguments)
        except ToolError as exc:
            return ToolResult(str(exc), is_error=True)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification to the client (progress, a log message)."""
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> tuple[str, Future[dict[str, Any]]]:
        """Send a request to the client: (its id, a future for the response message).
        The caller must :meth:`forget` the id when it stops waiting, so a late answer is dropped."""
        request_id = f"ic-{uuid.uuid4().hex}"
        future: Future[dict[str, Any]] = Future()
        with self._load_lock:
            self._requests[request_id] = future
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id, future

    def forget(self, request_id: str) -> None:
        with self._load_lock:
            self._requests.pop(request_id, None)

    def _deliver(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        if not isinstance(request_id, str):
            return
        with self._load_lock:
            future = self._requests.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(message)

    def _send_result(self, request_id: object, result: dict[str, Any]) -> None:
        self._write({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _send_error(self, request_id: object, code: int, message: str) -> None:
        self._write(_error(request_id, code, message))

    def _write(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        # A lone surrogate echoed from a request would make a strict encode raise.
        data = text.encode("utf-8", "replace") + b"\n"
        with self._write_lock:
            self._out.write(data)
            self._out.flush()


def _error(request_id: object, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
