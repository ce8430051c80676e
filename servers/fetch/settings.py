"""The fetch server's settings: read once at start, immutable, passed to every handler.

The host configures web search through the server's environment (it copies ``webSearch`` from
``config.json``); nothing here reads the environment after start-up, so a test builds a
:class:`FetchSettings` by hand and injects the resolver and the network seam directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from servers.fetch.addresses import Resolver, system_resolver

__all__ = ["PROVIDERS", "FetchSettings", "SearchConfig"]

PROVIDERS = ("brave", "tavily", "serpapi")
ENV_PROVIDER = "IRONCURTAIN_WEB_SEARCH_PROVIDER"
ENV_API_KEY = "IRONCURTAIN_WEB_SEARCH_API_KEY"
ENV_BASE_URL = "IRONCURTAIN_WEB_SEARCH_BASE_URL"


@dataclass(frozen=True)
class SearchConfig:
    """Which search API to call. ``provider`` is kept as given; the search checks it."""

    provider: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a repr, log or error
    base_url: str | None = None  # tests only: a local fake in place of the provider's host

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SearchConfig:
        env = os.environ if environ is None else environ
        return cls(
            provider=(env.get(ENV_PROVIDER) or "").strip().lower() or None,
            api_key=(env.get(ENV_API_KEY) or "").strip() or None,
            base_url=(env.get(ENV_BASE_URL) or "").strip().rstrip("/") or None,
        )


@dataclass(frozen=True)
class FetchSettings:
    """Everything a fetch or search call depends on besides its arguments."""

    allow_private: bool = False  # tests only: loopback and private networks become reachable
    resolver: Resolver = system_resolver
    network: Any = None  # an httpcore.NetworkBackend doing the raw connects (a test seam)
    tls: Any = None  # an ssl.SSLContext trusting a test CA; None: certifi's public roots
    max_body_bytes: int = 5 * 1024 * 1024  # decoded bytes read from one response
    max_html_converted: int = 2 * 1024 * 1024  # HTML bytes turned into markdown/text per call
    convert_seconds: float = 20.0  # parsing and converting them: slow markup is refused
    max_redirects: int = 5
    search: SearchConfig = field(default_factory=SearchConfig)
