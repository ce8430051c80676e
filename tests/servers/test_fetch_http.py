"""http_fetch in memory against real loopback servers: conversion, pagination, caps, headers."""

from __future__ import annotations

import gzip
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from test_fetch_support import answer, local_site, page, redirect, table_resolver, tls_pair

from servers.fetch import build_server
from servers.fetch.settings import FetchSettings
from servers.wire.server import ToolResult

ARTICLE = b"""<!doctype html><html><head><title>The Title</title>
<style>body { color: red }</style><script>var secret = "alert";</script></head>
<body><h1>Heading</h1><p>Some <b>bold</b> text and <a href="/next">a link</a>.</p>
<ul><li>one</li><li>two</li></ul><noscript>enable js</noscript>
<script>document.write("injected")</script></body></html>"""


def fetch(args: dict, settings: FetchSettings | None = None) -> ToolResult:
    server = build_server(settings or FetchSettings(allow_private=True))
    return server.invoke({"name": "http_fetch", "arguments": args})


def test_html_becomes_markdown_without_scripts_or_styles() -> None:
    with local_site({"/a": page(ARTICLE)}) as site:
        result = fetch({"url": site.url("/a")})
    assert not result.is_error, result.text
    assert result.text.startswith("# Heading")
    assert "Some **bold** text" in result.text
    assert f"[a link]({site.url('/next')})" in result.text  # made absolute: the agent can follow it
    assert "- one\n- two" in result.text
    for hidden in ("alert", "injected", "color: red", "enable js", "The Title"):
        assert hidden not in result.text
    assert result.structured["title"] == "The Title"
    assert result.structured["content_type"] == "text/html"


def test_text_and_html_formats() -> None:
    with local_site({"/a": page(ARTICLE)}) as site:
        text = fetch({"url": site.url("/a"), "format": "text"})
        raw = fetch({"url": site.url("/a"), "format": "html"})
    lines = [line for line in text.text.splitlines() if line]
    assert lines[:4] == ["Heading", "Some bold text and a link.", "one", "two"]
    assert "injected" not in text.text and "**" not in text.text
    assert raw.text == ARTICLE.decode()


def test_pagination_walks_the_whole_page_and_says_how_to_continue() -> None:
    body = "".join(f"<p>paragraph {n:04d}</p>" for n in range(400)).encode()
    with local_site({"/long": page(body)}) as site:
        full = fetch({"url": site.url("/long"), "max_length": 1_000_000}).structured
        parts, start = [], 0
        while start is not None:
            result = fetch({"url": site.url("/long"), "max_length": 1000, "start_index": start})
            chunk = result.structured
            parts.append(
                result.text.split("\n\n[http_fetch:")[0]
                if chunk["next_start_index"]
                else result.text
            )
            if chunk["next_start_index"] is not None:
                assert f"start_index={chunk['next_start_index']}" in result.text
            start = chunk["next_start_index"]
    assert len(parts) == -(-full["total_length"] // 1000)
    assert "".join(parts).count("paragraph") == 400
    assert "paragraph 0399" in parts[-1]


def test_start_index_past_the_end_is_a_clear_error() -> None:
    with local_site({"/a": page(b"<p>short</p>")}) as site:
        result = fetch({"url": site.url("/a"), "start_index": 500})
    assert result.is_error and "past the end" in result.text and "5 characters" in result.text


def test_body_is_cut_at_the_read_cap() -> None:
    big = b"x" * 6_000_000
    with local_site({"/big": page(big, "text/plain")}) as site:
        result = fetch({"url": site.url("/big"), "max_length": 10})
        small = fetch(
            {"url": site.url("/big")}, FetchSettings(allow_private=True, max_body_bytes=1000)
        )
    assert result.structured["body_truncated"] is True
    assert result.structured["total_length"] == 5 * 1024 * 1024
    assert "was cut there" in result.text
    assert small.structured["total_length"] == 1000


def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"a" * 50_000_000, compresslevel=9)  # NULs would be removed
    with local_site({"/bomb": page(bomb, "text/plain", **{"Content-Encoding": "gzip"})}) as site:
        started = time.monotonic()
        result = fetch(
            {"url": site.url("/bomb"), "max_length": 5},
            FetchSettings(allow_private=True, max_body_bytes=100_000),
        )
    assert result.structured["body_truncated"] is True
    assert result.structured["total_length"] == 100_000
    assert time.monotonic() - started < 5


def test_gzip_and_deflate_bodies_are_decoded() -> None:
    import zlib

    routes = {
        "/gz": page(gzip.compress(b"<p>zipped</p>"), **{"Content-Encoding": "gzip"}),
        "/df": page(zlib.compress(b"<p>deflated</p>"), **{"Content-Encoding": "deflate"}),
        "/br": page(b"\x0b\x02", **{"Content-Encoding": "br"}),
        "/bad": page(b"not gzip at all", **{"Content-Encoding": "gzip"}),
    }
    with local_site(routes) as site:
        assert fetch({"url": site.url("/gz")}).text == "zipped"
        assert fetch({"url": site.url("/df")}).text == "deflated"
        assert "can't decode" in fetch({"url": site.url("/br")}).text
        assert "corrupt" in fetch({"url": site.url("/bad")}).text


def _drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(100):  # one byte every 0.2 s: each read is quick, the whole is not
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass


def _stall(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(3)


@pytest.mark.parametrize("route", [_drip, _stall], ids=["slow-drip body", "no answer"])
def test_total_time_is_capped(route) -> None:
    with local_site({"/slow": route}) as site:
        started = time.monotonic()
        result = fetch({"url": site.url("/slow"), "timeout": 1})
        elapsed = time.monotonic() - started
    assert result.is_error and "timed out" in result.text
    assert 0.9 < elapsed < 2.5  # 1 s cap plus scheduling slack on a shared machine


def test_timeout_above_the_maximum_is_refused_by_the_schema() -> None:
    result = fetch({"url": "http://127.0.0.1/", "timeout": 121})
    assert result.is_error and "maximum 120" in result.text


def test_redirects_are_followed_up_to_five() -> None:
    routes = {f"/r{n}": redirect(f"/r{n + 1}") for n in range(7)}
    routes["/r5"] = page(b"<p>arrived</p>")
    routes["/r6"] = redirect("/r7")
    routes["/r7"] = redirect("/r8")
    with local_site(routes) as site:
        ok = fetch({"url": site.url("/r0")})
        routes.update({f"/r{n}": redirect(f"/r{n + 1}") for n in range(6)})
        too_many = fetch({"url": site.url("/r0")})
    assert ok.text.startswith("arrived") and ok.structured["final_url"] == site.url("/r5")
    assert len(ok.structured["redirects"]) == 5
    assert too_many.is_error and "more than 5 redirects" in too_many.text


def test_agent_headers_stay_on_the_origin_they_were_meant_for() -> None:
    secret = {"Authorization": "Bearer agent-token", "X-Custom": "1"}
    resolver = table_resolver({"a.test": ["127.0.0.1"]})
    settings = FetchSettings(allow_private=True, resolver=resolver)
    with local_site({"/b": page(b"<p>b</p>")}) as other:  # same host, another port: another origin
        routes = {"/": redirect("/same"), "/same": redirect(other.url("/b", host="a.test"))}
        with local_site(routes) as first:
            result = fetch({"url": first.url("/", host="a.test"), "headers": secret}, settings)
    assert result.text.startswith("b")
    assert [s.headers.get("Authorization") for s in first.seen] == ["Bearer agent-token"] * 2
    assert "Authorization" not in other.seen[0].headers
    assert "X-Custom" not in other.seen[0].headers
    assert other.seen[0].headers["Host"] == f"a.test:{other.port}"
    assert set(result.structured["dropped_headers"]) == {"Authorization", "X-Custom"}


def test_connection_steering_headers_from_the_agent_are_dropped() -> None:
    evil = {
        "Host": "internal.example",
        "Connection": "Upgrade, close",
        "Proxy-Authorization": "Basic eA==",
        "Transfer-Encoding": "chunked",
        "X-Fine": "yes",
    }
    with local_site({"/": page(b"<p>ok</p>")}) as site:
        result = fetch({"url": site.url("/"), "headers": evil})
    seen = site.seen[0].headers
    assert seen["Host"] == f"127.0.0.1:{site.port}"
    assert seen["X-Fine"] == "yes"
    assert "Proxy-Authorization" not in seen and "Transfer-Encoding" not in seen
    assert "Upgrade" not in seen.get("Connection", "")
    assert set(result.structured["dropped_headers"]) == {
        "Host",
        "Connection",
        "Proxy-Authorization",
        "Transfer-Encoding",
    }


HEADER_CASES = json.loads(
    (Path(__file__).parents[1] / "vectors" / "fetch" / "headers.json").read_text("utf-8")
)["cases"]


@pytest.fixture(scope="module")
def echo_site():
    with local_site({"/": page(b"<p>ok</p>")}) as site:
        yield site


@pytest.mark.parametrize("case", HEADER_CASES, ids=[c["description"] for c in HEADER_CASES])
def test_header_vector(case: dict, echo_site) -> None:
    value = case["value"]
    if value.startswith("LONG:"):
        value = "v" * int(value.split(":")[1])
    before = len(echo_site.seen)
    result = fetch({"url": echo_site.url("/"), "headers": {case["name"]: value}})
    if case["expect"] == "refused":
        assert result.is_error and "header" in result.text
        assert len(echo_site.seen) == before  # nothing was sent
        return
    assert not result.is_error, result.text
    seen = {k.lower(): v for k, v in echo_site.seen[-1].headers.items()}
    if case["expect"] == "sent":
        assert seen[case["name"].lower()] == value
        assert result.structured["dropped_headers"] == []
    else:
        assert seen.get(case["name"].lower()) != value
        assert result.structured["dropped_headers"] == [case["name"]]


def test_binary_content_is_refused_with_its_type_and_size() -> None:
    with local_site({"/png": page(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")}) as site:
        result = fetch({"url": site.url("/png")})
    assert result.is_error and "image/png (108 bytes)" in result.text


def test_http_error_status_is_an_error_result_with_the_page() -> None:
    with local_site({"/gone": answer(410, b"<h2>Gone away</h2>")}) as site:
        result = fetch({"url": site.url("/gone")})
    assert result.is_error and result.text.startswith("HTTP 410 Gone from")
    assert "## Gone away" in result.text and result.structured["status"] == 410


def test_charsets_are_honoured() -> None:
    latin = "<p>caf\u00e9</p>".encode("latin-1")
    routes = {
        "/declared": page(latin, "text/html; charset=ISO-8859-1"),
        "/meta": page(b'<meta charset="iso-8859-1">' + latin, "text/html"),
        "/json": page('{"k": "\u00fc"}'.encode(), "application/json"),
    }
    with local_site(routes) as site:
        assert fetch({"url": site.url("/declared")}).text == "caf\u00e9"
        assert fetch({"url": site.url("/meta")}).text == "caf\u00e9"
        assert fetch({"url": site.url("/json")}).text == '{"k": "\u00fc"}'


def test_without_the_flag_loopback_sites_are_refused_before_connecting() -> None:
    with local_site({"/": page(b"<p>local</p>")}) as site:
        result = fetch({"url": site.url("/")}, FetchSettings())
    assert result.is_error and "loopback" in result.text
    assert site.seen == []


def test_unknown_arguments_and_bad_formats_are_refused() -> None:
    assert fetch({"url": "http://x.test/", "follow": True}).is_error
    assert fetch({"url": "http://x.test/", "format": "pdf"}).is_error
    assert fetch({"url": "http://x.test/", "max_length": 0}).is_error


def test_html_conversion_is_capped_and_raw_html_is_not() -> None:
    body = b"<p>" + b"word " * 2000 + b"</p><p>TAIL</p>"
    settings = FetchSettings(allow_private=True, max_html_converted=1000)
    with local_site({"/big": page(body)}) as site:
        converted = fetch({"url": site.url("/big")}, settings)
        raw = fetch({"url": site.url("/big"), "format": "html"}, settings)
    assert converted.structured["html_cut"] is True and "TAIL" not in converted.text
    assert "only the first 1000 bytes of HTML were converted" in converted.text
    assert raw.structured["html_cut"] is False and raw.text.endswith("<p>TAIL</p>")


def test_https_is_pinned_yet_verified_against_the_name(tmp_path) -> None:
    """The connection goes to the checked IP, while SNI and the certificate check use the name."""
    server_tls, client_tls, sni = tls_pair(tmp_path, "secure.test")
    resolver = table_resolver({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    settings = FetchSettings(allow_private=True, resolver=resolver, tls=client_tls)
    with local_site({"/": page(b"<p>over tls</p>")}, tls=server_tls) as site:
        good = fetch({"url": f"https://secure.test:{site.port}/"}, settings)
        wrong_name = fetch({"url": f"https://other.test:{site.port}/"}, settings)
        untrusted = fetch(
            {"url": f"https://secure.test:{site.port}/"},
            FetchSettings(allow_private=True, resolver=resolver),
        )
    assert not good.is_error and good.text == "over tls"
    assert sni[0] == "secure.test"
    assert site.seen[0].headers["Host"] == f"secure.test:{site.port}"
    assert wrong_name.is_error and "certificate" in wrong_name.text.lower()
    assert untrusted.is_error and "certificate" in untrusted.text.lower()
    assert len(site.seen) == 1


def test_ipv6_literal_is_fetched_with_a_bracketed_host_header() -> None:
    try:
        context = local_site({"/": page(b"<p>over v6</p>")}, host="::1")
        site = context.__enter__()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        result = fetch({"url": f"http://[::1]:{site.port}/"})
    finally:
        context.__exit__(None, None, None)
    assert result.text == "over v6"
    assert site.seen[0].headers["Host"] == f"[::1]:{site.port}"


def test_an_empty_page_says_so() -> None:
    with local_site({"/empty": page(b"<html><body><script>x()</script></body></html>")}) as site:
        result = fetch({"url": site.url("/empty")})
    assert not result.is_error and result.text == "[http_fetch: the page has no text content.]"
    assert result.structured["total_length"] == 0


def test_an_error_status_with_a_binary_body_reports_the_status() -> None:
    with local_site({"/img": answer(404, b"\x89PNG\r\n\x1a\n\0\0", "image/png")}) as site:
        result = fetch({"url": site.url("/img")})
    assert result.is_error and result.text == f"HTTP 404 Not Found from {site.url('/img')}"
