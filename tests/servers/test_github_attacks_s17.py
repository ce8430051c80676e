"""The GitHub server's client against a hostile network and a hostile API host, over real loopback
HTTP: DNS answers that change between the check and the connection, answers that are too big,
oddly encoded or slow, and tool arguments aimed at other endpoints. Cases are data in
tests/vectors/github_s17/."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from github_fake import TOKEN, fake_github
from test_fetch_support import SequenceResolver, local_site, page, table_resolver

from servers.github import build_server
from servers.github.api import GitHubApi, GitHubError

VECTORS = Path(__file__).parents[1] / "vectors" / "github_s17"


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text("utf-8"))


CONNECT = _load("connect_addresses.json")


@pytest.mark.parametrize("case", CONNECT["cases"], ids=[c["description"] for c in CONNECT["cases"]])
def test_the_address_connected_to_is_the_address_checked(case: dict) -> None:
    with fake_github() as fake:
        resolver = SequenceResolver(*case["answers"])
        api = GitHubApi(
            f"http://localhost:{fake.port}", TOKEN, allow_private=True, resolver=resolver
        )
        if case["expect"] == "refused":
            with pytest.raises(GitHubError, match=case["match"]):
                api.request("GET", "/user")
            assert fake.seen == []
        else:
            assert api.request("GET", "/user")["login"] == "alice"
            assert len(fake.seen) == 1
    assert resolver.asked == ["localhost", "localhost"]


def test_a_name_only_the_checked_resolver_knows_is_reached_at_its_checked_address() -> None:
    """The connection uses the answer that was checked, not the system's own lookup (which does
    not know the name at all), and the request still names the host."""
    with fake_github() as fake:
        resolver = table_resolver({"api.pinned.test": ["127.0.0.1"]})
        api = GitHubApi(
            f"http://api.pinned.test:{fake.port}", TOKEN, allow_private=True, resolver=resolver
        )
        assert api.request("GET", "/user")["login"] == "alice"
        assert api.request("GET", "/user")["login"] == "alice"
    assert [s.headers["Host"] for s in fake.seen] == [f"api.pinned.test:{fake.port}"] * 2
    assert len({s.peer for s in fake.seen}) == 1  # still one kept-alive connection


ANSWERS = _load("answers.json")


def _encode(case: dict) -> bytes:
    raw = b"\0" * case["zeros"] if "zeros" in case else json.dumps(case["json"]).encode()
    encoding = case["encoding"]
    if encoding == "gzip":
        return gzip.compress(raw, compresslevel=6)
    if encoding == "deflate":
        return zlib.compress(raw)
    if encoding == "br":
        import brotli

        return brotli.compress(raw, quality=1)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=1).compress(raw)
    return raw


@pytest.mark.parametrize("case", ANSWERS["cases"], ids=[c["description"] for c in ANSWERS["cases"]])
def test_answers_are_read_within_the_caps(case: dict) -> None:
    body = _encode(case)
    headers = {} if case["encoding"] == "identity" else {"Content-Encoding": case["encoding"]}
    with local_site({"/user": page(body, "application/json", **headers)}) as site:
        api = GitHubApi(
            site.url("").rstrip("/"),
            TOKEN,
            allow_private=True,
            max_body_bytes=case["max_body_bytes"],
        )
        started = time.monotonic()
        if case["expect"] == "refused":
            with pytest.raises(GitHubError, match=case["match"]):
                api.request("GET", "/user")
        else:
            assert api.request("GET", "/user") == case["json"]
        elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    assert site.seen[0].headers["Accept-Encoding"] == "gzip"


def _drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(100):  # a byte every 0.2 s: each read is quick, the whole is not
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


def test_a_slow_drip_answer_ends_by_the_timeout() -> None:
    with local_site({"/user": _drip}) as site:
        api = GitHubApi(site.url("").rstrip("/"), TOKEN, allow_private=True, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(GitHubError, match="took over 1 s"):
            api.request("GET", "/user")
        elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed  # the timeout plus at most one read


ARGUMENTS = _load("arguments.json")


@pytest.fixture(scope="module")
def github_server():
    with fake_github() as fake:
        yield fake, build_server(GitHubApi(fake.url, TOKEN, allow_private=True))


@pytest.mark.parametrize(
    "case", ARGUMENTS["cases"], ids=[c["description"] for c in ARGUMENTS["cases"]]
)
def test_arguments_stay_inside_their_path_segment(case: dict, github_server) -> None:
    fake, server = github_server
    arguments = {"owner": "alice", "repo": "tool", **case["arguments"]}
    if case["tool"] in ("get_team_members",):
        arguments = case["arguments"]
    before = len(fake.seen)
    result = server.invoke({"name": case["tool"], "arguments": arguments})
    made = [s.path for s in fake.seen[before:]]
    if case.get("refused"):
        assert result.is_error and case["match"] in result.text
        assert made == []
    else:
        assert made and made[0] == case["path"], made
    assert TOKEN not in result.text
