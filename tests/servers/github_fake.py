"""A scripted GitHub API on loopback, following GitHub's documented responses.

It answers the REST paths the GitHub server uses with bodies of GitHub's documented shapes,
``Link`` pagination (``rel="next"``/``rel="last"``) on list endpoints, the ``X-RateLimit-*``
headers on every answer, and GitHub's error bodies: 401 ``Bad credentials`` for a wrong token,
404 for an unknown path, and 403/404 with ``X-Accepted-OAuth-Scopes`` for a scope the token
lacks. Tests can queue a special answer (``fake.rate_limited``) and read every request seen.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghp_TESTtoken0123456789abcdefABCDEF012345"
USER = {"login": "alice", "id": 1, "type": "User", "node_id": "U_1"}
SHA = "a" * 40


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    peer: tuple[str, int] = ("", 0)  # the client's address: one per TCP connection


@dataclass
class FakeGitHub:
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    queued: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    scopes: str = "repo, read:org"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rate_limited(self, reset_in: int) -> None:
        """The next request is refused as GitHub does when the primary rate limit is spent."""
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(time.time()) + reset_in),
            "x-ratelimit-resource": "core",
        }
        self.queued.append((403, headers, {"message": "API rate limit exceeded for user ID 1."}))

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        """(status, extra headers, body) for one request."""
        return _route(self, method, path, query, body)


def _issue(number: int) -> dict[str, Any]:
    return {"number": number, "id": 1000 + number, "title": f"Issue {number}", "state": "open"}


def _pr(number: int) -> dict[str, Any]:
    return {
        "number": number,
        "node_id": f"PR_{number}",
        "title": f"PR {number}",
        "head": {"sha": SHA, "ref": "feature"},
        "base": {"ref": "main"},
    }


def _route(fake: FakeGitHub, method: str, path: str, query: Any, body: Any) -> Any:
    ok: dict[str, str] = {}
    repo = re.match(r"^/repos/([^/]+)/([^/]+)(/.*)?$", path)
    if path == "/user":
        return 200, ok, USER
    if path == "/user/teams":
        return 200, ok, [{"slug": "core", "organization": {"login": "acme"}}]
    if re.match(r"^/orgs/[^/]+/teams/[^/]+/members$", path):
        return 200, ok, [{"login": "alice"}, {"login": "bob"}]
    if re.match(r"^/orgs/[^/]+/issue-types$", path):
        return 200, ok, [{"id": 1, "name": "Bug"}]
    if method == "POST" and (path == "/user/repos" or re.match(r"^/orgs/[^/]+/repos$", path)):
        if "admin:org" not in fake.scopes and path.startswith("/orgs"):
            return (
                403,
                {"x-accepted-oauth-scopes": "admin:org, repo"},
                {"message": "Must have admin rights to Repository."},
            )
        return 201, ok, {"name": body["name"], "private": body.get("private", False)}
    if path.startswith("/search/"):
        items = [{"full_name": "alice/tool", "description": "d", "html_url": "h", "id": 9}]
        return 200, ok, {"total_count": 1, "incomplete_results": False, "items": items}
    if path == "/graphql":
        return 200, ok, _graphql(body)
    if repo is None:
        return 404, ok, {"message": "Not Found"}
    owner, rest = repo.group(1), repo.group(3) or ""
    if owner == "private-org":
        return 404, {"x-accepted-oauth-scopes": "repo"}, {"message": "Not Found"}
    return _repo_route(method, rest, query, body)


def _repo_route(method: str, rest: str, query: Any, body: Any) -> Any:
    ok: dict[str, str] = {}
    if rest == "":
        return 200, ok, {"full_name": "alice/tool", "default_branch": "main"}
    if rest == "/branches":
        page = int(query.get("page", ["1"])[0])
        return 200, ok, [{"name": f"b{page}", "commit": {"sha": SHA}}]
    if rest.startswith("/git/ref/") or rest.startswith("/git/refs"):
        if method == "GET" and rest.endswith("/tags/v1"):
            return 200, ok, {"ref": "refs/tags/v1", "object": {"type": "tag", "sha": "t" * 40}}
        return (201 if method == "POST" else 200), ok, {"ref": rest, "object": {"sha": SHA}}
    if rest.startswith("/git/tags/"):
        return 200, ok, {"tag": "v1", "message": "release", "object": {"sha": SHA}}
    if rest.startswith("/git/commits"):
        return (201 if method == "POST" else 200), ok, {"sha": "c" * 40, "tree": {"sha": "d" * 40}}
    if rest == "/git/trees":
        return 201, ok, {"sha": "e" * 40}
    if rest.startswith("/contents/"):
        if method == "GET":
            content = base64.b64encode(b"hello from the repo\n").decode()
            return (
                200,
                ok,
                {"path": rest[10:], "sha": "f" * 40, "encoding": "base64", "content": content},
            )
        return (200 if method == "DELETE" else 201), ok, {"commit": {"sha": SHA}}
    if re.match(r"^/pulls/\d+$", rest):
        number = int(rest.split("/")[2])
        return 200, ok, ({**_pr(number), **body} if method == "PATCH" else _pr(number))
    if re.match(r"^/pulls/\d+/reviews$", rest) and method == "GET":
        return 200, ok, [{"id": 77, "node_id": "PRR_77", "state": "PENDING", "user": USER}]
    if re.match(r"^/issues/\d+$", rest):
        return 200, ok, _issue(int(rest.split("/")[2]))
    if rest == "/issues" and method == "POST":
        return 201, ok, {**_issue(9), "title": body.get("title")}
    if method == "POST":
        return 201, ok, {"id": 5, "created": rest, "body": body}
    if method in ("PUT", "PATCH", "DELETE"):
        return 200, ok, {"updated": rest}
    if rest.endswith(("/status",)):
        return 200, ok, {"state": "success", "sha": SHA}
    if rest.endswith("/check-runs"):
        return 200, ok, {"total_count": 1, "check_runs": [{"name": "ci", "conclusion": "success"}]}
    if rest.startswith(("/commits/", "/releases/", "/labels/")) or rest.endswith("/parent"):
        return 200, ok, {"path": rest}
    return 200, ok, [{"path": rest}]


def _graphql(body: Any) -> dict[str, Any]:
    query = body.get("query", "")
    if "issues(" in query:
        nodes = [{"number": 1, "title": "Issue 1", "state": "OPEN"}]
        page = {"hasNextPage": False, "endCursor": "Y3Vyc29yOjE="}
        return {
            "data": {"repository": {"issues": {"nodes": nodes, "pageInfo": page, "totalCount": 1}}}
        }
    if "addPullRequestReviewThread" in query:
        return {
            "data": {"addPullRequestReviewThread": {"thread": {"id": "T_1", "isResolved": False}}}
        }
    return {"data": {"ok": True}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"  # keep-alive, as GitHub serves it
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms ACK wait

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = parse_qs(parts.query)
        self.fake.seen.append(
            Seen(self.command, parts.path, query, dict(self.headers), body, self.client_address)
        )
        if self.fake.queued:
            status, headers, payload = self.fake.queued.pop(0)
        elif self.headers.get("authorization") != f"Bearer {TOKEN}":
            status, headers, payload = 401, {}, {"message": "Bad credentials"}
        else:
            status, headers, payload = self.fake.answer(self.command, parts.path, query, body or {})
        path_prefix = parts.path.removeprefix("/api/v3")
        if status == 200 and isinstance(payload, list) and path_prefix.endswith("/branches"):
            page = int(query.get("page", ["1"])[0])
            if page < 3:
                base = f"{self.fake.url}{parts.path}?per_page=1&page="
                headers = {
                    **headers,
                    "link": f'<{base}{page + 1}>; rel="next", <{base}3>; rel="last"',
                }
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-oauth-scopes", self.fake.scopes)
        for key, value in {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            **headers,
        }.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up a kept-alive connection (its process ended) is not news."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = _Server(("127.0.0.1", 0), handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
