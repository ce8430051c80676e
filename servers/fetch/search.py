"""``web_search`` through Brave, Tavily or SerpAPI, whichever the host configured.

Each provider is a request builder and a result parser around the same checked, pinned client
``http_fetch`` uses: a provider's host is a public host like any other and bypasses nothing.
No redirects are followed (an API that redirects is misconfigured, and the key must not follow
it). The API key never appears in a result or an error: provider error text is not echoed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from servers.fetch.settings import PROVIDERS, FetchSettings, SearchConfig
from servers.wire.server import ToolError

__all__ = ["SETUP_HINT", "Hit", "search"]

SETUP_HINT = (
    "Set one up with `ironcurtain config set webSearch.provider brave` (or tavily, serpapi) and "
    "`ironcurtain config set webSearch.apiKey YOUR_KEY`; the host passes them to the fetch "
    "server as IRONCURTAIN_WEB_SEARCH_PROVIDER and IRONCURTAIN_WEB_SEARCH_API_KEY."
)
_DEFAULT_BASES = {
    "brave": "https://api.search.brave.com",
    "tavily": "https://api.tavily.com",
    "serpapi": "https://serpapi.com",
}
_TAGS = re.compile(r"<[^>]{0,200}>")
_TIMEOUT = 20.0


@dataclass(frozen=True)
class Hit:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


def search(query: str, count: int, settings: FetchSettings) -> list[Hit]:
    """Run one search; raise ToolError with a fix when not configured or the API fails."""
    from servers.fetch.client import request

    config = _usable(settings.search)
    provider = config.provider or ""
    call = _BUILDERS[provider](query, count, config, config.base_url or _DEFAULT_BASES[provider])
    response = request(
        call.url,
        settings,
        timeout=_TIMEOUT,
        method=call.method,
        headers=call.headers,
        body=call.body,
        follow_redirects=False,
    )
    if response.status in (401, 403):
        raise ToolError(
            f"the {provider} search API refused the API key (HTTP {response.status}). {SETUP_HINT}"
        )
    if response.status != 200:
        raise ToolError(f"the {provider} search API answered HTTP {response.status}")
    if response.truncated:
        raise ToolError(f"the {provider} search API sent an oversized answer")
    try:
        data = json.loads(response.body)
    except ValueError:
        raise ToolError(f"the {provider} search API sent an answer that is not JSON") from None
    return _PARSERS[provider](data)[:count]


def _usable(config: SearchConfig) -> SearchConfig:
    if not config.provider:
        raise ToolError(f"web_search is not set up: no search provider is configured. {SETUP_HINT}")
    if config.provider not in PROVIDERS:
        raise ToolError(
            f"web_search provider {config.provider[:40]!r} is unknown; use one of "
            f"{', '.join(PROVIDERS)}. {SETUP_HINT}"
        )
    if not config.api_key:
        raise ToolError(f"web_search provider {config.provider} has no API key. {SETUP_HINT}")
    return config


def _brave(query: str, count: int, config: SearchConfig, base: str) -> _Call:
    params = urlencode({"q": query, "count": count})
    headers = {"Accept": "application/json", "X-Subscription-Token": config.api_key or ""}
    return _Call("GET", f"{base}/res/v1/web/search?{params}", headers)


def _tavily(query: str, count: int, config: SearchConfig, base: str) -> _Call:
    body = json.dumps({"query": query, "max_results": count}).encode()
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {config.api_key}",
    }
    return _Call("POST", f"{base}/search", headers, body)


def _serpapi(query: str, count: int, config: SearchConfig, base: str) -> _Call:
    params = urlencode({"q": query, "api_key": config.api_key, "engine": "google", "num": count})
    return _Call("GET", f"{base}/search.json?{params}", {"Accept": "application/json"})


def _hits(items: object, url_key: str, snippet_key: str) -> list[Hit]:
    if not isinstance(items, list):
        return []
    hits = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(url_key), str):
            continue
        hits.append(Hit(_plain(item.get("title")), item[url_key], _plain(item.get(snippet_key))))
    return hits


def _plain(value: object) -> str:
    """Provider snippets carry <strong> highlights and entities; the agent wants the words."""
    return html.unescape(_TAGS.sub("", value)).strip() if isinstance(value, str) else ""


def _dig(data: Any, *keys: str) -> object:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


_BUILDERS: dict[str, Callable[[str, int, SearchConfig, str], _Call]] = {
    "brave": _brave,
    "tavily": _tavily,
    "serpapi": _serpapi,
}
_PARSERS: dict[str, Callable[[Any], list[Hit]]] = {
    "brave": lambda data: _hits(_dig(data, "web", "results"), "url", "description"),
    "tavily": lambda data: _hits(_dig(data, "results"), "url", "content"),
    "serpapi": lambda data: _hits(_dig(data, "organic_results"), "link", "snippet"),
}
