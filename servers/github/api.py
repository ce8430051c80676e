"""The one way the GitHub server talks to GitHub: REST and GraphQL over one kept-alive client.

Why a class of its own: every rule about the network lives here, so no tool handler can break
one. Requests go only to the configured API origin (a pagination ``Link`` to anywhere else is
refused, redirects are never followed), every new connection resolves the API host again, checks
the addresses as the fetch server does and connects to the address it checked (never to a second,
unchecked DNS answer), the token is sent only in the ``Authorization`` header and is scrubbed from
every text this module returns or raises, and rate limits are respected: a short wait
(``max_wait`` seconds) is waited out once, a longer one is reported, never retried in a loop.
An answer is read up to ``max_body_bytes`` (decoded; only gzip is accepted, brotli and zstd could
expand without bound) and within ``timeout`` seconds plus at most one read. A request the client
cancels is aborted where it waits (its socket shut down: ``servers.fetch.pinned``) and ends with
:class:`~servers.wire.cancel.CallCancelled`, never a result.
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from servers.wire.cancel import checkpoint
from servers.wire.server import ToolError

if TYPE_CHECKING:  # the address checks load on the first request, not at start-up
    from servers.fetch.addresses import Resolver

__all__ = ["GitHubApi", "GitHubError", "Reply", "api_url_for_host"]

USER_AGENT = "ironcurtain-github/0.1"
API_VERSION = "2022-11-28"
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([a-z]+)"')
MAX_PAGES = 10  # pages one call may follow (perPage up to 100: up to 1000 items)
MAX_BODY_BYTES = 32 * 1024 * 1024  # one answer, decoded (a large pull request diff fits)
_ENCODINGS = frozenset({"", "identity", "gzip"})


@dataclass(frozen=True)
class Reply:
    """One answer, read whole (within the caps): what the handlers and error messages use."""

    status_code: int
    headers: Any  # httpx.Headers: case-insensitive
    content: bytes
    request: Any  # httpx.Request
    reason_phrase: str

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class GitHubError(ToolError):
    """GitHub answered with an error; the message is safe to show (no token) and says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def api_url_for_host(host: str | None) -> str:
    """``GITHUB_HOST`` as the official server reads it: github.com, or an Enterprise host whose
    REST API lives under ``/api/v3`` (GHE.com tenants use ``api.<host>``)."""
    if not host:
        return "https://api.github.com"
    value = host.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    name = (parts.hostname or "").lower()
    if name in ("github.com", "api.github.com"):
        return "https://api.github.com"
    if name.endswith(".ghe.com"):
        return f"{parts.scheme}://api.{parts.netloc}"
    return f"{parts.scheme}://{parts.netloc}/api/v3"


@dataclass
class GitHubApi:
    """REST/GraphQL calls to one GitHub API origin with one token."""

    base_url: str  # e.g. https://api.github.com or https://ghe.example/api/v3
    token: str | None = field(repr=False)
    allow_private: bool = False  # tests only: the scripted API listens on 127.0.0.1
    resolver: Resolver | None = None  # None: the system resolver (tests inject one)
    max_wait: float = 10.0  # seconds of rate-limit wait worth sitting out
    timeout: float = 30.0  # one request, its answer read whole (plus at most one read)
    max_body_bytes: int = MAX_BODY_BYTES
    sleep: Callable[[float], None] = time.sleep
    _client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url.rstrip("/"))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"GitHub API URL {self.base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and not self.allow_private:
            raise ValueError(f"GitHub API URL {self.base_url!r}: only https is allowed")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("GitHub API URL must not hold credentials, a query or a fragment")
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)

    # --- the connection --------------------------------------------------------------------

    def client(self) -> Any:
        """The kept-alive httpx client, made on first use after the base URL's address check."""
        with self._lock:
            if self._client is None:
                import httpx

                from servers.fetch.addresses import check_url, system_resolver

                resolver = self.resolver or system_resolver
                check_url(self.base_url + "/", resolver, self.allow_private, self.timeout)
                headers = {
                    "Accept": "application/vnd.github+json",
                    "Accept-Encoding": "gzip",
                    "User-Agent": USER_AGENT,
                    "X-GitHub-Api-Version": API_VERSION,
                }
                if self.token:
                    headers["Authorization"] = f"Bearer {self.token}"
                self._client = httpx.Client(
                    headers=headers,
                    timeout=self.timeout,
                    follow_redirects=False,
                    trust_env=False,  # no proxy or netrc from the environment
                    transport=self._transport(resolver),
                )
            return self._client

    def _transport(self, resolver: Resolver) -> Any:
        """httpx's transport over a pool whose only way to a socket is a CheckedBackend."""
        import httpcore
        import httpx

        from servers.fetch.pinned import CheckedBackend, tls_context

        scheme, host, port = self.origin
        backend = CheckedBackend(
            scheme, host, port or (443 if scheme == "https" else 80), resolver, self.allow_private
        )
        transport = httpx.HTTPTransport(retries=0)
        # httpx 0.28 takes no network backend; its transport only calls its pool, so the pool is
        # replaced with one that has ours (httpx is pinned in uv.lock; the tests use this path).
        transport._pool = httpcore.ConnectionPool(
            ssl_context=tls_context() if scheme == "https" else None,
            max_connections=4,
            keepalive_expiry=120,
            retries=0,
            network_backend=backend,
        )
        return transport

    def scrub(self, text: str) -> str:
        """``text`` with the token removed, wherever an API or a handler might have put it."""
        if self.token and self.token in text:
            text = text.replace(self.token, "[token]")
        return text

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            if (parts.scheme, (parts.hostname or "").lower(), parts.port) != self.origin:
                raise GitHubError(0, "GitHub pointed to another host; not followed")
            return path_or_url
        return self.base_url + path_or_url

    # --- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
    ) -> Any:
        """One call; the decoded JSON (or text for a diff/raw media type), or a GitHubError."""
        response = self._send(method, path, params, json, accept)
        if response.status_code == 204 or not response.content:
            return {}
        if accept and "json" not in accept:
            return self.scrub(response.text)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(response.status_code, "GitHub sent a body that is not JSON") from None

    def paged(self, path: str, params: dict[str, Any], pages: int = 1) -> list[Any]:
        """Items of a list endpoint, following ``Link: rel="next"`` for up to ``pages`` pages."""
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = params
        for _ in range(max(1, min(pages, MAX_PAGES))):
            response = self._send("GET", url, query, None, None)
            body = response.json()
            items.extend(body if isinstance(body, list) else body.get("items", []))
            url = next_link(response.headers.get("link", ""))
            query = None  # the next link carries the query
            if url is None:
                break
        return items

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        root = self.base_url.removesuffix("/v3") if self.base_url.endswith("/api/v3") else None
        path = (root + "/graphql") if root else "/graphql"
        body = self.request("POST", path, json={"query": query, "variables": variables})
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"][:3])
            raise GitHubError(200, self.scrub(f"GitHub GraphQL error: {messages}"))
        return body.get("data") or {}

    def _send(self, method: str, path: str, params: Any, json: Any, accept: str | None) -> Any:
        import httpx

        url = self._url(path)
        headers = {"Accept": accept} if accept else None
        for attempt in (1, 2):
            client = self.client()
            request = client.build_request(method, url, params=params, json=json, headers=headers)
            try:
                response = self._read(client.send(request, stream=True))
            except httpx.HTTPError as exc:
                checkpoint()  # an aborted socket fails here: the cancellation, not GitHub
                name = type(exc).__name__
                raise GitHubError(
                    0, self.scrub(f"GitHub API unreachable ({name}): {exc}")
                ) from None
            wait = rate_limit_wait(response)
            if wait is None:
                break
            if attempt == 1 and wait <= self.max_wait:
                self.sleep(max(wait, 0.0))
                checkpoint()
                continue
            raise GitHubError(response.status_code, self._rate_message(response, wait))
        if response.status_code >= 300:
            raise GitHubError(response.status_code, self.scrub(error_message(response)))
        return response

    def _read(self, response: Any) -> Reply:
        """The whole answer, or a GitHubError when it is too big, too slow or oddly encoded."""
        deadline = time.monotonic() + self.timeout
        try:
            encoding = response.headers.get("content-encoding", "").strip().lower()
            if encoding not in _ENCODINGS:
                raise GitHubError(
                    response.status_code, f"GitHub sent content-encoding {encoding[:40]!r}"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise GitHubError(
                        response.status_code,
                        f"GitHub sent an answer over {self.max_body_bytes // (1024 * 1024)} MiB;"
                        " not read further",
                    )
                if time.monotonic() > deadline:
                    raise GitHubError(
                        response.status_code, f"GitHub's answer took over {self.timeout:g} s"
                    )
        finally:
            response.close()
        checkpoint()  # a body cut short by the abort would otherwise look complete
        return Reply(
            response.status_code,
            response.headers,
            bytes(body),
            response.request,
            response.reason_phrase,
        )

    def _rate_message(self, response: Any, wait: float) -> str:
        limit = response.headers.get("x-ratelimit-limit", "?")
        return (
            f"GitHub rate limit reached (limit {limit} per hour, resource "
            f"{response.headers.get('x-ratelimit-resource', 'core')}); it resets in "
            f"{int(wait) + 1} s. Not retried: try again later."
        )


def next_link(header: str) -> str | None:
    for url, rel in _LINK.findall(header or ""):
        if rel == "next":
            return url
    return None


def rate_limit_wait(response: Any) -> float | None:
    """Seconds until GitHub takes requests again, or None when this is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        return max(0.0, float(reset) - time.time()) if reset.isdigit() else 60.0
    if b"secondary rate limit" in response.content[:2000].lower():
        return 60.0  # GitHub: without retry-after, wait at least a minute
    return None


def error_message(response: Any) -> str:
    """A sentence the agent can act on: the status, GitHub's message and the missing scope."""
    try:
        body = response.json()
        said = str(body.get("message", "")) if isinstance(body, dict) else ""
    except ValueError:
        said = ""
    status = response.status_code
    needed = response.headers.get("x-accepted-oauth-scopes", "").strip()
    has = response.headers.get("x-oauth-scopes")
    scopes = ""
    if needed:
        held = f"; the token has: {has.strip() or '(none)'}" if has is not None else ""
        scopes = f" This call needs the token scope(s): {needed}{held}."
    what = f"{response.request.method} {urlsplit(str(response.request.url)).path}"
    if status == 401:
        return (
            f"GitHub refused the token (401 {said or 'Bad credentials'}) for {what}: it is "
            "missing, expired or revoked. Set a valid githubToken / GITHUB_PERSONAL_ACCESS_TOKEN."
        )
    if status == 403:
        return f"GitHub forbade {what} (403 {said or 'Forbidden'}).{scopes}".rstrip()
    if status == 404:
        return (
            f"GitHub found nothing at {what} (404 {said or 'Not Found'}): it does not exist, "
            f"or the token cannot see it (private repositories answer 404).{scopes}"
        ).rstrip()
    if status == 422:
        errors = body.get("errors") if isinstance(body, dict) else None
        detail = f" {errors}" if errors else ""
        return f"GitHub rejected {what} (422 {said or 'Unprocessable'}).{detail}"[:2000]
    return f"GitHub answered {status} to {what}: {said or response.reason_phrase}"[:2000]
