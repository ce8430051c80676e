"""web_search against local fakes of Brave, Tavily and SerpAPI, and when it is not set up."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from test_fetch_support import answer, local_site, page

from servers.fetch import build_server
from servers.fetch.settings import FetchSettings, SearchConfig
from servers.wire.server import ToolResult

KEY = "sk-test-5f1e2d3c4b5a"
BRAVE = {
    "web": {
        "results": [
            {
                "title": "Py <strong>docs</strong>",
                "url": "https://docs.python.org/",
                "description": "The &amp; docs",
            },
            {"title": "PEP 8", "url": "https://peps.python.org/pep-0008/", "description": "Style"},
            {"title": "no url"},
        ]
    }
}
TAVILY = {"results": [{"title": "Tav", "url": "https://tavily.example/1", "content": "found it"}]}
SERPAPI = {
    "organic_results": [
        {"title": "Serp one", "link": "https://serp.example/1", "snippet": "first"},
        {"title": "Serp two", "link": "https://serp.example/2", "snippet": "second"},
    ]
}


def search(args: dict, config: SearchConfig, allow_private: bool = True) -> ToolResult:
    server = build_server(FetchSettings(allow_private=allow_private, search=config))
    return server.invoke({"name": "web_search", "arguments": args})


def _json(data: dict):
    return page(json.dumps(data).encode(), "application/json")


def test_brave_request_format_and_results() -> None:
    with local_site({"/res/v1/web/search": _json(BRAVE)}) as site:
        config = SearchConfig("brave", KEY, site.url("").rstrip("/"))
        result = search({"query": "python docs", "count": 7}, config)
    seen = site.seen[0]
    assert seen.method == "GET"
    assert parse_qs(urlsplit(seen.path).query) == {"q": ["python docs"], "count": ["7"]}
    assert seen.headers["X-Subscription-Token"] == KEY
    assert not result.is_error, result.text
    assert result.structured["results"] == [
        {"title": "Py docs", "url": "https://docs.python.org/", "snippet": "The & docs"},
        {"title": "PEP 8", "url": "https://peps.python.org/pep-0008/", "snippet": "Style"},
    ]
    assert result.text.startswith("1. Py docs\n   https://docs.python.org/\n   The & docs")


def test_tavily_request_format_and_results() -> None:
    with local_site({"/search": _json(TAVILY)}) as site:
        result = search({"query": "q"}, SearchConfig("tavily", KEY, site.url("").rstrip("/")))
    seen = site.seen[0]
    assert seen.method == "POST" and seen.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(seen.body) == {"query": "q", "max_results": 5}
    assert result.structured["results"] == [
        {"title": "Tav", "url": "https://tavily.example/1", "snippet": "found it"}
    ]


def test_serpapi_request_format_and_count_limit() -> None:
    with local_site({"/search.json": _json(SERPAPI)}) as site:
        result = search(
            {"query": "q", "count": 1}, SearchConfig("serpapi", KEY, site.url("").rstrip("/"))
        )
    query = parse_qs(urlsplit(site.seen[0].path).query)
    assert query == {"q": ["q"], "api_key": [KEY], "engine": ["google"], "num": ["1"]}
    assert [r["url"] for r in result.structured["results"]] == ["https://serp.example/1"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (SearchConfig(), "no search provider is configured"),
        (SearchConfig("bing", KEY), "'bing' is unknown"),
        (SearchConfig("brave", None), "has no API key"),
    ],
)
def test_not_set_up_says_how_to_set_it_up(config: SearchConfig, words: str) -> None:
    result = search({"query": "anything"}, config)
    assert result.is_error and words in result.text
    assert "ironcurtain config set webSearch.provider brave" in result.text
    assert "webSearch.apiKey" in result.text


def test_refused_key_is_reported_without_echoing_it() -> None:
    refuse = answer(401, json.dumps({"error": f"bad key {KEY}"}).encode(), "application/json")
    with local_site({"/res/v1/web/search": refuse}) as site:
        result = search({"query": "q"}, SearchConfig("brave", KEY, site.url("").rstrip("/")))
    assert result.is_error and "refused the API key (HTTP 401)" in result.text
    assert KEY not in result.text


def test_provider_failures_are_clear_errors() -> None:
    routes = {
        "/res/v1/web/search": page(b"<html>oops</html>", "text/html"),
        "/search": answer(500, b"{}", "application/json"),
        "/search.json": answer(302, b"", "text/plain", Location="http://127.0.0.1:9/"),
    }
    with local_site(routes) as site:
        base = site.url("").rstrip("/")
        assert "not JSON" in search({"query": "q"}, SearchConfig("brave", KEY, base)).text
        assert "HTTP 500" in search({"query": "q"}, SearchConfig("tavily", KEY, base)).text
        assert "HTTP 302" in search({"query": "q"}, SearchConfig("serpapi", KEY, base)).text
    assert len(site.seen) == 3  # the redirect was not followed, with or without the key


def test_search_base_url_gets_the_private_address_check_too() -> None:
    with local_site({"/res/v1/web/search": _json(BRAVE)}) as site:
        config = SearchConfig("brave", KEY, site.url("").rstrip("/"))
        result = search({"query": "q"}, config, allow_private=False)
    assert result.is_error and "loopback" in result.text
    assert site.seen == []


def test_config_from_environment() -> None:
    env = {
        "IRONCURTAIN_WEB_SEARCH_PROVIDER": " Brave ",
        "IRONCURTAIN_WEB_SEARCH_API_KEY": KEY,
        "IRONCURTAIN_WEB_SEARCH_BASE_URL": "http://127.0.0.1:1/",
    }
    config = SearchConfig.from_env(env)
    assert config == SearchConfig("brave", KEY, "http://127.0.0.1:1")
    assert KEY not in repr(config)
    assert SearchConfig.from_env({}) == SearchConfig()


def test_count_is_bounded_by_the_schema() -> None:
    assert search({"query": "q", "count": 21}, SearchConfig()).text.endswith("maximum 20")
    assert search({"query": "", "count": 3}, SearchConfig()).is_error
