"""The client side of MCP over stdio, on the same light core as the shipped servers.

Why not the SDK's ``ClientSession``: importing ``mcp`` costs over a second on these machines and
its per-call machinery (pydantic validation of every message, memory streams between tasks)
about 1 ms, which the chokepoint paid on every tool call and every ``exec`` paid at start.

The wire is MCP's stdio transport exactly: newline-delimited JSON-RPC 2.0, the
``initialize`` / ``notifications/initialized`` handshake, ``tools/list`` followed through its
``nextCursor`` pages, ``tools/call``, ``notifications/cancelled`` for a call given up on. Any MCP
stdio server works behind it (the tests run our servers and third-party ones). Requests the
server sends us are answered (``ping``) or refused with ``Method not found``; notifications
(progress, logging, list changes) go to ``on_notification`` when one is set, else are dropped.
:class:`McpClient` is what both transports share (``http_client.HttpClient`` is the other).

Limits, because a server is only semi-trusted: a line longer than ``max_line`` bytes, a line that
is not JSON (or nests deeper than the parser's recursion budget) ends the connection with
:class:`ProtocolError`; every call waiting on it fails with that error, and the caller starts a
new server. An answer no request waits for (one given up on, or a second answer to one
request: the first stands) is dropped. ``structuredContent`` nested deeper than
:data:`MAX_RESULT_DEPTH` is refused the same way.

Exceptions::

    ClientError
    ├── ProtocolError   the connection is unusable (died, closed, broke the protocol)
    └── RemoteError     the server answered a request with a JSON-RPC error (connection fine)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import anyio
import anyio.lowlevel
from anyio.abc import Process, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from policy.safe_json import MAX_VALUES, values_over_limit

__all__ = [
    "CLIENT_PROTOCOL_VERSION",
    "MAX_RESULT_DEPTH",
    "MAX_TOOLS",
    "MAX_VALUES",
    "ClientError",
    "McpClient",
    "ProtocolError",
    "RemoteError",
    "StdioClient",
]

CLIENT_PROTOCOL_VERSION = "2025-11-25"
MAX_RESULT_DEPTH = 64
MAX_TOOLS = 10_000  # across a listing's pages: more is a server filling the host's memory
DEFAULT_MAX_LINE = 64 * 1024 * 1024
_MAX_PAGES = 1000  # a server whose cursor never ends is broken, not large
_EXIT_GRACE_S = 2.0
_TAIL_GRACE_S = 0.5  # how long a server that closed its output is given to exit and be read
_REPLY_GRACE_S = 2.0  # how long the reader waits to write an answer to a server's request
# How long a request keeps the event loop turning (polling, not sleeping) for its answer before
# it sleeps on it. Most tool calls answer within a millisecond or two; a thread that sleeps in
# epoll for that long wakes on cold caches (and, in a VM, after a halted vCPU is woken), which
# measured here as ~0.13 ms more per call on the direct side and ~0.17 ms on a gated one
# (tests/bench/bench_chokepoint.py). The cost is at most this much CPU per call.
DEFAULT_POLL_S = 0.002
METHOD_NOT_FOUND = -32601


class ClientError(Exception):
    """Base of the client's errors."""


class ProtocolError(ClientError):
    """The connection can no longer be used: the server died, closed its output or broke MCP."""


class RemoteError(ClientError):
    """The server answered with a JSON-RPC error; the connection stays usable."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code
        self.message = message


class _Pending:
    """One request waiting for its answer (an Event is cheaper than a memory stream)."""

    __slots__ = ("answer", "done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.answer: dict[str, Any] | None = None
        self.error: ClientError | None = None


class McpClient:
    """What the server pool uses of a client, whatever the transport: the handshake, the tool
    list, a tool call. Subclasses provide ``request`` and ``notify``; ``on_notification`` (set
    before ``initialize``) hears the server's notifications, e.g. ``tools/list_changed``."""

    server_info: dict[str, Any]
    on_notification: Callable[[str, dict[str, Any]], None] | None = None

    @property
    def pid(self) -> int | None:
        return None

    @property
    def broken(self) -> ClientError | None:
        raise NotImplementedError

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its answer. ``while_waiting`` (which must not raise) runs
        once the request is on its way, so the caller's own work overlaps the server's."""
        raise NotImplementedError

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        raise NotImplementedError

    def _heard(self, message: dict[str, Any]) -> None:
        """A notification from the server: handed to ``on_notification``, whose failure must
        not end the connection (it is the host's own code, logged by the caller's logger)."""
        params = message.get("params")
        if self.on_notification is None:
            return
        try:
            self.on_notification(
                str(message["method"])[:200], params if isinstance(params, dict) else {}
            )
        except Exception:
            logging.getLogger(__name__).exception("a notification handler failed")

    # -- the protocol --------------------------------------------------------------------------

    async def initialize(self, name: str = "ironcurtain", version: str = "0") -> dict[str, Any]:
        """The handshake: ``initialize``, then the ``initialized`` notification."""
        result = await self.request(
            "initialize",
            {
                "protocolVersion": CLIENT_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": name, "version": version},
            },
        )
        if not isinstance(result.get("protocolVersion"), str):
            raise ProtocolError("the server's initialize answer names no protocol version")
        self.server_info = result
        await self.notify("notifications/initialized")
        return result

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every tool, following ``nextCursor`` through the pages."""
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            listed = page.get("tools")
            if not isinstance(listed, list):
                raise ProtocolError("tools/list answered without a list of tools")
            tools.extend(
                t for t in listed if isinstance(t, dict) and isinstance(t.get("name"), str)
            )
            if len(tools) > MAX_TOOLS:
                raise ProtocolError(f"tools/list listed more than {MAX_TOOLS} tools")
            cursor = page.get("nextCursor")
            if not cursor:
                return tools
            if not isinstance(cursor, str):
                raise ProtocolError("tools/list gave a cursor that is not a string")
        raise ProtocolError(f"tools/list did not end after {_MAX_PAGES} pages")

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """One ``tools/call``; the result as the server sent it (``content``, ``isError``...)."""
        result = await self.request(
            "tools/call", {"name": name, "arguments": dict(arguments)}, while_waiting=while_waiting
        )
        if not isinstance(result.get("content", []), list):
            raise ProtocolError("tools/call answered with content that is not a list")
        structured = result.get("structuredContent")
        if structured is not None and _too_deep(structured, MAX_RESULT_DEPTH):
            raise ProtocolError(f"structuredContent nested deeper than {MAX_RESULT_DEPTH}")
        return result


class StdioClient(McpClient):
    """An MCP client over a child process's stdin/stdout.

    ``async with StdioClient(argv, ...) as client:`` starts the process and its reader; leaving
    closes stdin, gives the server ``_EXIT_GRACE_S`` to exit, then kills it. Enter and leave in
    one task (the reader lives in a task group of that task); requests may come from any task.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stderr: IO[Any] | int | None = subprocess.DEVNULL,
        max_line: int = DEFAULT_MAX_LINE,
        poll_s: float = DEFAULT_POLL_S,
        keep_stderr: int = 0,
    ) -> None:
        """``keep_stderr``: bytes of the end of the server's standard error kept (read from a
        pipe, so ``stderr`` is then not used): when the server closes its output, the error
        says how it exited and its last line (``stderr_tail``)."""
        if not argv:
            raise ValueError("an MCP server needs a command")
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stderr = stderr
        self.max_line = max_line
        self.poll_s = poll_s
        self.server_info: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._process: Process | None = None
        self._group: TaskGroup | None = None
        self._broken: ProtocolError | None = None
        self.keep_stderr = keep_stderr
        self._tail = bytearray()
        self._tail_read = anyio.Event()

    @property
    def pid(self) -> int | None:
        """The server process's id once started."""
        return self._process.pid if self._process is not None else None

    @property
    def broken(self) -> ProtocolError | None:
        """Why the connection ended, or None while it is usable."""
        return self._broken

    async def __aenter__(self) -> StdioClient:
        try:
            self._process = await anyio.open_process(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if self.keep_stderr else self.stderr,
                env=self.env, cwd=self.cwd,
            )  # fmt: skip
        except OSError as exc:
            raise ProtocolError(f"cannot start {self.argv[0]}: {exc.strerror or exc}") from exc
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._read_loop, name=f"mcp-read {self.argv[0]}")
        if self.keep_stderr:
            self._group.start_soon(self._read_stderr, name=f"mcp-stderr {self.argv[0]}")
        else:
            self._tail_read.set()
        return self

    def stderr_tail(self) -> str:
        """The last line the server wrote to its standard error (of what ``keep_stderr`` kept),
        printable characters only, at most 300: it may be anything, and it reaches a terminal."""
        lines = bytes(self._tail).decode("utf-8", "replace").splitlines()
        last = next((line for line in reversed(lines) if line.strip()), "")
        shown = "".join(c if c.isprintable() else "?" for c in last.strip())
        return shown if len(shown) <= 300 else shown[:297] + "..."

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        try:
            async for chunk in self._process.stderr:
                self._tail += chunk
                del self._tail[: max(0, len(self._tail) - self.keep_stderr)]
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self._tail_read.set()

    async def _ended(self) -> str:
        """How the server ended, once it closed its output: its exit status and the last line
        of its standard error, as far as they come within a short grace."""
        assert self._process is not None
        with anyio.move_on_after(_TAIL_GRACE_S):
            await self._process.wait()
            await self._tail_read.wait()
        code = self._process.returncode
        how = "it is still running" if code is None else f"exit status {code}"
        if code is not None and code < 0:
            how = f"killed by signal {-code}"
        tail = self.stderr_tail() if self.keep_stderr else ""
        return f"{how}: {tail}" if tail else how

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._process is not None and self._group is not None
        self._fail(ProtocolError("the client closed the connection"))
        with anyio.CancelScope(shield=True):
            await self._stop_process(self._process)
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(None, None, None)

    @staticmethod
    async def _stop_process(process: Process) -> None:
        if process.stdin is not None:
            with contextlib.suppress(OSError, anyio.BrokenResourceError):  # it may be gone
                await process.stdin.aclose()
        with anyio.move_on_after(_EXIT_GRACE_S):
            await process.wait()
            return
        for stop in (process.terminate, process.kill):
            try:
                stop()
            except ProcessLookupError:
                return
            with anyio.move_on_after(_EXIT_GRACE_S):
                await process.wait()
                return

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Send a request and wait for its answer. If the caller is cancelled (a timeout), the
        server is told with ``notifications/cancelled``."""
        if self._broken is not None:
            raise self._broken
        # A caller cancelled already is not the server's fault (see ``sent`` below).
        await anyio.lowlevel.checkpoint_if_cancelled()
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending()
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = dict(params)
        sent = False
        try:
            await self._send(message)
            sent = True
            if while_waiting is not None:  # the line is in the pipe: the server is working
                while_waiting()
            if self.poll_s > 0 and not pending.done.is_set():
                await self._poll(pending.done, time.perf_counter() + self.poll_s)
            await pending.done.wait()
        except anyio.get_cancelled_exc_class():
            if not sent:
                # The server stopped reading its input: the line stays queued in the host (one
                # more per request) and the connection cannot be used again.
                self._fail(ProtocolError("the server does not read its input"))
                await self._kill()
                raise
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                cancel = {"requestId": request_id, "reason": "the client stopped waiting"}
                await self._send_quietly("notifications/cancelled", cancel)
            raise
        finally:
            self._pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        assert pending.answer is not None
        return pending.answer

    @staticmethod
    async def _poll(done: anyio.Event, deadline: float) -> None:
        # Each sleep(0) is one turn of the event loop with a zero-timeout poll: the reader task
        # runs as soon as the answer's bytes arrive, on a CPU that never went idle.
        while not done.is_set() and time.perf_counter() < deadline:
            await anyio.sleep(0)

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        await self._send(message)

    # -- the transport -------------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        if self._broken is not None:
            raise self._broken
        assert self._process is not None and self._process.stdin is not None
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )
        try:
            # One send per line: the transport buffers it whole, so concurrent requests from
            # several tasks never interleave inside a line.
            await self._process.stdin.send(data + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._fail(ProtocolError(f"cannot write to the server: {exc!r}"))
            raise self._broken from exc  # type: ignore[misc]

    async def _send_quietly(self, method: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(ClientError):  # the connection is gone; nothing waits on this
            await self.notify(method, params)

    async def _read_loop(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        reader = BufferedByteReceiveStream(self._process.stdout)
        try:
            while self._broken is None:
                line = await reader.receive_until(b"\n", self.max_line)
                if line.strip():
                    await self._handle(_parse(line))
        except anyio.DelimiterNotFound:
            self._fail(ProtocolError(f"the server sent a line longer than {self.max_line} bytes"))
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError):
            if self._broken is None and self.keep_stderr:
                how = await self._ended()
                self._fail(ProtocolError(f"the server closed its output ({how})"))
            self._fail(ProtocolError("the server closed its output (it exited or crashed)"))
        except anyio.BrokenResourceError as exc:
            self._fail(ProtocolError(f"the server's output broke: {exc!r}"))
        except ProtocolError as exc:
            self._fail(exc)
        finally:
            if self._broken is not None:
                await self._kill()

    async def _handle(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if "id" in message:  # a request to us: we offer no capabilities but ping
                await self._answer_server(message)
            self._heard(message)  # notifications: progress, logging, list changes
            return
        request_id = message.get("id")
        pending = self._pending.get(request_id) if type(request_id) is int else None
        if pending is None or pending.done.is_set():
            # the answer to a request given up on (timed out, cancelled), or a second answer to
            # one already answered: the first stands, nobody waits for this one
            return
        if isinstance(message.get("result"), dict):
            pending.answer = message["result"]
        elif isinstance(message.get("error"), dict):
            error = message["error"]
            text = error.get("message")
            pending.error = RemoteError(error.get("code"), str(text)[:500] if text else "error")
        else:
            pending.error = ProtocolError("the server sent an answer with no result or error")
        pending.done.set()

    async def _answer_server(self, message: dict[str, Any]) -> None:
        # The reader writes this answer itself: a server that sends requests and never reads
        # the answers fills the pipe to it, and the reader must not wait on it for ever (every
        # call waiting its whole timeout, the server never restarted).
        with contextlib.suppress(ProtocolError):  # the read loop sees the end by itself
            with anyio.move_on_after(_REPLY_GRACE_S) as waited:
                await self._send(reply_to_server(message))
            if waited.cancelled_caught:
                self._fail(ProtocolError("the server does not read the answers to its requests"))

    def _fail(self, error: ProtocolError) -> None:
        if self._broken is None:
            self._broken = error
        for pending in self._pending.values():
            if not pending.done.is_set():
                pending.error = self._broken
                pending.done.set()

    async def _kill(self) -> None:
        """A server that broke the protocol may still be running: it gets no second chance."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()


def _parse(line: bytes | str) -> dict[str, Any]:
    # (stdlib json.loads: a server's results are not held to safe_json's depth and key rules,
    # but their count of values is bounded as everywhere)
    if (count := values_over_limit(line)) is not None:
        raise ProtocolError(
            f"the server sent a message of {count} values or more (the limit is "
            f"{MAX_VALUES}): it would fill the host's memory"
        )
    try:
        message = json.loads(line, parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError("the server sent JSON nested too deeply to parse") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"the server sent a line that is not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ProtocolError("the server sent a message that is not JSON-RPC 2.0")
    return message


def _is_tool(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("name"), str)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _too_deep(value: object, limit: int) -> bool:
    """Whether ``value`` nests lists/objects deeper than ``limit`` (iteratively: no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def reply_to_server(message: dict[str, Any]) -> dict[str, Any]:
    """Our answer to a request the server sends us (either transport): ``ping`` is answered;
    anything else is refused, since the host offers the server no capabilities."""
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    if message["method"] == "ping":
        reply["result"] = {}
    else:
        method = str(message["method"])[:100]
        reply["error"] = {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"}
    return reply
