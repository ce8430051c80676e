"""One HTTP exchange chain for ``http_fetch`` and ``web_search``: checked, pinned, capped.

Every hop (the first request and each redirect) goes through ``check_url`` and then through a
:class:`~servers.fetch.pinned.PinnedBackend` bound to the address that was checked. Redirects
are followed here, never by a library, so each one is re-checked; the agent's own headers are
sent only while the chain stays on the origin it asked for. The body is read up to a byte cap
(after decompression, so a gzip bomb stops at the cap too) and the whole chain, DNS included,
ends by one deadline. A request the client cancels (``servers.wire.cancel``) is aborted where
it waits: its socket is shut down (``pinned``) and :class:`CallCancelled` raised, never a result.

Errors for the agent are :class:`~servers.wire.server.ToolError` (refusals are the subclass
``UrlRefused``); nothing from httpcore escapes this module. Imports httpcore: import lazily.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import httpcore

from servers.fetch.addresses import Target, check_url, normalise_url
from servers.fetch.pinned import PinnedBackend, tls_context
from servers.fetch.settings import FetchSettings
from servers.wire.cancel import checkpoint
from servers.wire.server import ToolError

__all__ = ["USER_AGENT", "Response", "clean_headers", "request"]

USER_AGENT = "IronCurtain-Fetch/0.1 (+https://github.com/provos/ironcurtain)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that steer the connection rather than describe the request: the client owns them.
_CLIENT_OWNED = frozenset(
    {"host", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
    | {"content-length", "accept-encoding", "expect", "http2-settings"}
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # RFC 9110 token, used with fullmatch
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than tab
_MAX_HEADERS = 32
_MAX_HEADER_VALUE = 8192


@dataclass(frozen=True)
class Response:
    url: str  # where the body came from, after redirects
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool  # the body was longer than the cap and was cut
    redirects: tuple[str, ...]  # the URLs redirected to, in order
    dropped_headers: tuple[str, ...]  # the caller's headers that were not sent
    redirect_to: str | None = None  # a redirect to another host, not followed

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def clean_headers(headers: Mapping[str, str] | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """The caller's headers that may be sent, and the names that were dropped."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    items = dict(headers or {})
    if len(items) > _MAX_HEADERS:
        raise ToolError(f"at most {_MAX_HEADERS} headers, got {len(items)}")
    for name, value in items.items():
        if not _TOKEN.fullmatch(name):
            raise ToolError(f"header name {name[:60]!r} is not a valid HTTP header name")
        if _BAD_VALUE.search(value) or len(value) > _MAX_HEADER_VALUE:
            raise ToolError(f"header {name} has a control character or is over 8 KiB")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ToolError(f"header {name} has characters outside ISO-8859-1") from None
        lowered = name.lower()
        if lowered in _CLIENT_OWNED or lowered.startswith("proxy-"):
            dropped.append(name)
        else:
            kept[name] = value
    return kept, tuple(dropped)


def request(
    url: str,
    settings: FetchSettings,
    *,
    timeout: float,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    follow_redirects: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> Response:
    """Fetch ``url`` under every check; raise ToolError on refusal, failure or timeout."""
    deadline = clock() + timeout
    caller_headers, dropped = clean_headers(headers)
    target = check_url(url, settings.resolver, settings.allow_private, timeout)
    origin, forward, hops = target.origin, True, []
    while True:
        forward = forward and target.origin == origin  # once off-origin, never again
        sent = {**caller_headers} if forward else {}
        if not forward and caller_headers:
            dropped = tuple(dict.fromkeys((*dropped, *caller_headers)))
        response = _exchange(target, method, sent, body, deadline, settings, clock, timeout)
        location = response.header("location")
        if not follow_redirects or response.status not in REDIRECTS or not location:
            return replace(response, redirects=tuple(hops), dropped_headers=dropped)
        if len(hops) >= settings.max_redirects:
            raise ToolError(
                f"more than {settings.max_redirects} redirects, stopped at {target.url}"
            )
        next_url = urljoin(target.url, location.strip())
        next_host, shown = normalise_url(next_url)
        if next_host != origin[1]:
            # The policy judged the host the caller named, not this one: the caller asks again
            # with this URL (and the policy judges it). Not even resolved here: a DNS lookup of
            # a name the page chose is itself a message to that name's server.
            return replace(
                response, redirects=tuple(hops), dropped_headers=dropped, redirect_to=shown
            )
        target = check_url(
            next_url, settings.resolver, settings.allow_private, _left(deadline, clock, timeout)
        )
        hops.append(target.url)
        method, body = "GET", None


def _exchange(
    target: Target,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    deadline: float,
    settings: FetchSettings,
    clock: Callable[[], float],
    timeout: float,
) -> Response:
    backend = PinnedBackend(target, deadline, settings.network, clock)
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    url = httpcore.URL(
        scheme=target.scheme.encode(),
        host=target.host.encode(),
        port=target.port,
        target=path.encode(),
    )
    wire = _wire_headers(target, headers, body)
    try:
        with (
            httpcore.ConnectionPool(
                ssl_context=(settings.tls or tls_context()) if target.scheme == "https" else None,
                network_backend=backend,
                max_connections=1,
                retries=0,
            ) as pool,
            pool.stream(method, url, headers=wire, content=body) as raw,
        ):
            pairs = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw.headers)
            reason = raw.extensions.get("reason_phrase", b"").decode("latin-1", "replace")
            if raw.status in REDIRECTS:
                data, truncated = b"", False
            else:
                encoding = next((v for k, v in pairs if k.lower() == "content-encoding"), "")
                data, truncated = _read_body(
                    raw, encoding, settings.max_body_bytes, deadline, clock
                )
    except httpcore.TimeoutException:
        checkpoint()
        raise ToolError(f"timed out: the fetch took longer than {timeout:g} s") from None
    except httpcore.ConnectError as exc:
        checkpoint()
        raise ToolError(f"could not connect to {target.host}: {_short(exc)}") from None
    except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
        checkpoint()  # an aborted socket fails here: the cancellation, not the network
        raise ToolError(f"the connection to {target.host} failed: {_short(exc)}") from None
    checkpoint()  # a body cut short by the abort would otherwise look complete
    return Response(target.url, raw.status, reason, pairs, data, truncated, (), ())


def _wire_headers(
    target: Target, headers: dict[str, str], body: bytes | None
) -> list[tuple[bytes, bytes]]:
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != (443 if target.scheme == "https" else 80):
        host = f"{host}:{target.port}"
    base = {
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
        **headers,
    }
    wire = [(b"Host", host.encode("ascii")), (b"Accept-Encoding", b"gzip, deflate")]
    wire += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in base.items()]
    if body is not None:
        wire.append((b"Content-Length", str(len(body)).encode()))
    return wire


def _read_body(
    raw: httpcore.Response, encoding: str, cap: int, deadline: float, clock: Callable[[], float]
) -> tuple[bytes, bool]:
    decoder = _decoder(encoding)
    out = bytearray()
    try:
        for chunk in raw.iter_stream():
            if clock() >= deadline:
                raise httpcore.ReadTimeout("deadline")
            # Decompress at most one byte past the cap: enough to know the body was cut.
            out += decoder.decompress(chunk, cap - len(out) + 1) if decoder else chunk
            if len(out) > cap:
                return bytes(out[:cap]), True
        if decoder is not None:
            out += decoder.flush()
    except zlib.error:
        raise ToolError("the response's compressed body is corrupt") from None
    return (bytes(out[:cap]), True) if len(out) > cap else (bytes(out), False)


def _decoder(encoding: str) -> zlib._Decompress | None:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise ToolError(
        f"the server sent content-encoding {name[:40]!r}, which http_fetch can't decode"
    )


def _left(deadline: float, clock: Callable[[], float], timeout: float) -> float:
    left = deadline - clock()
    if left <= 0:
        raise ToolError(f"timed out: the fetch took longer than {timeout:g} s")
    return left


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
