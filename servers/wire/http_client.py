"""The client side of MCP's Streamable HTTP transport, for a remote server declared by ``url``.

The wire (MCP spec 2025-03-26, 2025-06-18, 2025-11-25): every message the client sends is one
POST to the endpoint with ``Accept: application/json, text/event-stream``. A request is answered
with one JSON object, or with an SSE stream that may carry the server's notifications and
requests before the answer; a notification or a response is accepted with 202. The
``Mcp-Session-Id`` the server gives with its ``initialize`` answer goes with every later message,
with ``MCP-Protocol-Version``; a 404 to a message carrying it means the session expired, so the
client initializes again and resends once (the server processed nothing). A GET on the endpoint
opens the server's own stream (``tools/list_changed`` and the like; 405 means it has none). A
request's stream that the server closes before the answer is resumed (GET with
``Last-Event-ID`` after the ``retry`` it asked for). Leaving sends DELETE, ending the session.

A remote server is semi-trusted like a local one, and further away:

- redirects are refused, never followed: the declared headers (the server's credentials) reach
  the declared URL and nothing else; ``trust_env`` is off, so no proxy or ``.netrc`` from the
  environment adds or diverts anything;
- plain ``http`` is accepted for loopback hosts only (:func:`url_problem`);
- an answer over ``max_bytes`` or slower than ``timeout_s``, a status that is not 200/202, a
  Content-Type that is neither JSON nor SSE, or a body that is not JSON-RPC ends the request with
  :class:`ProtocolError` (the connection is then unusable, as over stdio, and the pool opens a
  new one).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup

from servers.wire.client import McpClient, ProtocolError, RemoteError, _parse, reply_to_server
from servers.wire.sse import StreamPosition, events, read_bounded

__all__ = ["DEFAULT_MAX_BYTES", "RESERVED_HEADERS", "HttpClient", "url_problem"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
ACCEPT_BOTH = "application/json, text/event-stream"
#: headers the transport sets itself; a declaration may not set them (they carry the session)
RESERVED_HEADERS = frozenset(
    {"accept", "content-type", "content-length", "host", "mcp-session-id", "mcp-protocol-version",
     "transfer-encoding", "connection", "last-event-id"}
)  # fmt: skip
_MAX_SESSION_ID = 1000
_MAX_RESUMPTIONS = 5  # a server that closes every stream early is broken, not slow
_MAX_RETRY_MS = 10_000  # the wait a server may ask for between them
_GOODBYE_S = 2.0


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a remote server's endpoint, or None: http(s) only, no user info,
    and plain http only to a loopback host (anything else would send the credentials in clear)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"expected a URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "expected an http(s) URL with a host"
    if parsed.userinfo:
        return "expected no user info in the URL (credentials go in 'headers')"
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        return f"expected https: plain http to {parsed.host} would send the headers in clear"
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _SessionExpired(Exception):
    """404 to a message carrying a session id: the server forgot the session."""


class HttpClient(McpClient):
    """An MCP client of one remote endpoint. ``async with HttpClient(url, headers=...)``; enter
    and leave in one task (the server's own stream is read in a task group of that task)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(f"url {url!r}: {problem}")
        self.url = url
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_bytes = max_bytes
        self.server_info: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._session_id: str | None = None
        self._protocol: str | None = None
        self._hello: tuple[str, str] = ("ironcurtain", "0")
        self._http: httpx.AsyncClient | None = None
        self._group: TaskGroup | None = None
        self._broken: ProtocolError | None = None
        self._renewing = anyio.Lock()

    @property
    def broken(self) -> ProtocolError | None:
        return self._broken

    async def __aenter__(self) -> HttpClient:
        timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
        self._http = httpx.AsyncClient(
            headers=self.headers, follow_redirects=False, timeout=timeout, trust_env=False
        )
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._http is not None and self._group is not None
        self._fail(ProtocolError("the client closed the connection"))
        with anyio.CancelScope(shield=True):
            await self._say_goodbye()
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            await self._http.aclose()

    async def _say_goodbye(self) -> None:
        """DELETE ends the session on the server (it may answer 405: sessions it keeps)."""
        if self._session_id is None or self._http is None:
            return
        with anyio.move_on_after(_GOODBYE_S), contextlib.suppress(httpx.HTTPError):
            await self._http.delete(self.url, headers=self._headers(body=False))

    # -- the protocol --------------------------------------------------------------------------

    async def initialize(self, name: str = "ironcurtain", version: str = "0") -> dict[str, Any]:
        self._hello = (name, version)
        result = await super().initialize(name, version)
        self._start_listening()
        return result

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        if self._broken is not None:
            raise self._broken
        if while_waiting is not None:  # no overlap over HTTP: the POST is one await
            while_waiting()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = dict(params)
        try:
            with anyio.fail_after(self.timeout_s):
                session = self._session_id
                try:
                    return await self._exchange(message)
                except _SessionExpired:
                    if method == "initialize":
                        raise ProtocolError("the server refused to start a session (404)") from None
                    await self._renew(session)
                    return await self._exchange(message)
        except _SessionExpired:
            raise self._failed(ProtocolError("the server forgot the new session at once")) from None
        except TimeoutError:
            raise self._failed(ProtocolError(f"no answer within {self.timeout_s:g} s")) from None
        except ProtocolError as exc:
            raise self._failed(exc) from None
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                cancel = {"requestId": message["id"], "reason": "the client stopped waiting"}
                await self._post_quietly({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                          "params": cancel})  # fmt: skip
            raise

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        if self._broken is not None:
            raise self._broken
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        try:
            with anyio.fail_after(self.timeout_s):
                await self._post_one_way(message)
        except (ProtocolError, _SessionExpired, TimeoutError) as exc:
            failure = exc if isinstance(exc, ProtocolError) else ProtocolError(f"{method}: {exc!r}")
            raise self._failed(failure) from None

    async def _renew(self, expired: str | None) -> None:
        """A new session in place of ``expired``, once: requests that met the same 404
        together wait for one ``initialize`` rather than each starting a session."""
        async with self._renewing:
            if self._session_id != expired:
                return  # another request renewed it meanwhile
            self._session_id = self._protocol = None
            await super().initialize(*self._hello)
            self._start_listening()  # the old session's stream ended with it

    def _start_listening(self) -> None:
        assert self._group is not None
        self._group.start_soon(self._listen, name=f"mcp-listen {self.url}")

    # -- the transport -------------------------------------------------------------------------

    def _headers(self, *, accept: str = ACCEPT_BOTH, body: bool = True) -> dict[str, str]:
        headers = {"Accept": accept}
        if body:
            headers["Content-Type"] = "application/json"
        if self._session_id is not None:
            headers["Mcp-Session-Id"] = self._session_id
        if self._protocol is not None:
            headers["MCP-Protocol-Version"] = self._protocol
        return headers

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        """POST one request; its answer from a JSON body or from the SSE stream."""
        assert self._http is not None
        try:
            async with self._http.stream(
                "POST", self.url, content=_encode(message), headers=self._headers()
            ) as response:
                self._check_status(response, expect=(200,))
                if message["method"] == "initialize":
                    self._session_id = _session_id(response)
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind == "application/json":
                    body = await read_bounded(response, self.max_bytes)
                    return self._answer(message, _parse(body))
                if kind == "text/event-stream":
                    return await self._answer_from_stream(message, response)
                raise ProtocolError(f"the server answered with Content-Type {kind[:80]!r}")
        except httpx.HTTPError as exc:
            raise ProtocolError(f"HTTP to the server failed: {type(exc).__name__}: {exc}") from exc

    async def _answer_from_stream(
        self, message: dict[str, Any], response: httpx.Response
    ) -> dict[str, Any]:
        """The answer from the request's SSE stream. A server may close that stream early
        (2025-11-25, "polling") after giving its events ids: the client then waits the
        ``retry`` it named and resumes with a GET carrying ``Last-Event-ID``, a bounded
        number of times."""
        stream = StreamPosition()
        answer = await self._answer_in(message, response, stream)
        for _ in range(_MAX_RESUMPTIONS):
            if answer is not None or stream.last_id is None:
                break
            await anyio.sleep(min(stream.retry_ms or 1000, _MAX_RETRY_MS) / 1000)
            answer = await self._resume(message, stream)
        if answer is None:
            raise ProtocolError("the server's event stream ended without the answer")
        return answer

    async def _answer_in(
        self, message: dict[str, Any], response: httpx.Response, stream: StreamPosition
    ) -> dict[str, Any] | None:
        async for data in events(response, self.max_bytes, whole=True, stream=stream):
            event = _parse(data)
            if "method" in event:
                await self._from_server(event)
            elif event.get("id") == message["id"]:
                return self._answer(message, event)
        return None

    async def _resume(
        self, message: dict[str, Any], stream: StreamPosition
    ) -> dict[str, Any] | None:
        assert self._http is not None and stream.last_id is not None
        headers = self._headers(accept="text/event-stream", body=False)
        headers["Last-Event-ID"] = stream.last_id
        async with self._http.stream("GET", self.url, headers=headers) as response:
            self._check_status(response, expect=(200,))
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "text/event-stream":
                raise ProtocolError(f"the server resumed with Content-Type {kind[:80]!r}")
            return await self._answer_in(message, response, stream)

    def _answer(self, message: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if answer.get("id") != message["id"]:
            raise ProtocolError("the server answered a request that was not asked")
        if isinstance(answer.get("result"), dict):
            result: dict[str, Any] = answer["result"]
            if message["method"] == "initialize" and isinstance(result.get("protocolVersion"), str):
                self._protocol = result["protocolVersion"][:40]
            return result
        if isinstance(answer.get("error"), dict):
            text = answer["error"].get("message")
            raise RemoteError(answer["error"].get("code"), str(text)[:500] if text else "error")
        raise ProtocolError("the server sent an answer with no result or error")

    def _check_status(self, response: httpx.Response, expect: tuple[int, ...]) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise ProtocolError(f"the server answered {status} (a redirect): redirects are refused")
        if status == 404 and self._session_id is not None:
            raise _SessionExpired
        if status not in expect:
            raise ProtocolError(f"the server answered HTTP {status} {response.reason_phrase}")

    async def _post_one_way(self, message: dict[str, Any]) -> None:
        """A notification or a response: the server accepts it with 202 and no body."""
        assert self._http is not None
        try:
            async with self._http.stream(
                "POST", self.url, content=_encode(message), headers=self._headers()
            ) as response:
                self._check_status(response, expect=(200, 202, 204))
        except httpx.HTTPError as exc:
            raise ProtocolError(f"HTTP to the server failed: {type(exc).__name__}: {exc}") from exc

    async def _post_quietly(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ProtocolError, _SessionExpired):  # nothing waits on it
            await self._post_one_way(message)

    async def _from_server(self, message: dict[str, Any]) -> None:
        """The server's own message: a notification for ``on_notification``; a request is
        answered (``ping``) or refused (we offer no capabilities)."""
        if "id" not in message:
            self._heard(message)
            return
        await self._post_quietly(reply_to_server(message))

    async def _listen(self) -> None:
        """The server's own stream (GET): notifications outside any request. Optional on the
        server's side; losing it loses only those notifications, never a call. A stream the
        server closes is opened again after its ``retry`` (with ``Last-Event-ID``), until it
        fails :data:`_MAX_RESUMPTIONS` times in a row or the session ends."""
        stream, session, failures = StreamPosition(), self._session_id, 0
        while self._broken is None and self._session_id == session:
            try:
                heard = await self._listen_once(stream)
            except (httpx.HTTPError, ProtocolError) as exc:
                log.debug("the server stream of %s ended: %r", self.url, exc)
                heard = False
            if heard is None:
                return  # 405: the server offers no stream of its own
            failures = 0 if heard else failures + 1
            if failures >= _MAX_RESUMPTIONS:
                return
            await anyio.sleep(min(stream.retry_ms or 1000, _MAX_RETRY_MS) / 1000)

    async def _listen_once(self, stream: StreamPosition) -> bool | None:
        """One GET stream to its end: whether it carried a message (None: no stream here)."""
        assert self._http is not None
        headers = self._headers(accept="text/event-stream", body=False)
        if stream.last_id is not None:
            headers["Last-Event-ID"] = stream.last_id
        timeout = httpx.Timeout(None, connect=self.connect_timeout_s)
        heard = False
        async with self._http.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or kind != "text/event-stream":
                return None
            async for data in events(response, self.max_bytes, whole=False, stream=stream):
                event = _parse(data)
                heard = True
                if "method" in event:
                    await self._from_server(event)
        return heard

    def _failed(self, error: ProtocolError) -> ProtocolError:
        self._fail(error)
        return error

    def _fail(self, error: ProtocolError) -> None:
        if self._broken is None:
            self._broken = error


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _session_id(response: httpx.Response) -> str | None:
    """The spec allows visible ASCII only; anything else would be a header injection."""
    value = response.headers.get("mcp-session-id")
    if value is None:
        return None
    if not value or len(value) > _MAX_SESSION_ID or any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise ProtocolError("the server gave a session id that is not visible ASCII")
    return value
