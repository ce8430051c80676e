"""A provider's traffic sent to a gateway the user chose (a LiteLLM proxy, OpenRouter, a local
Ollama) instead of the provider's own host, after every check has passed.

The agent still talks to the provider's host (its SDK, its fake key); the gate, the key swap and
the budget judge the request as for the provider. Only then is the request re-addressed: scheme,
host, port and a path prefix from the configured base URL, the Host header with them. The seal
lets an upstream connection go to that gateway only (and no longer to the provider's own host).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from appliance.credproxy.addons.base import denied, fail_closed, provider_of

__all__ = ["Gateway", "Target"]


class Target:
    """Where one provider's requests go: ``scheme://host:port/prefix``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = (parts.hostname or "").lower()
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.url = url

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class Gateway:
    def __init__(self, targets: dict[str, Target]) -> None:
        self.targets = targets  # provider -> where its requests go (parsed once, by the proxy)

    @fail_closed
    def request(self, flow: Any) -> None:
        if flow.error is not None or flow.response is not None or denied(flow):
            return  # refused or answered already: it goes nowhere
        provider = provider_of(flow)
        target = self.targets.get(provider.name) if provider is not None else None
        if target is None:
            return
        request = flow.request
        request.scheme = target.scheme
        request.host = target.host
        request.port = target.port
        request.path = target.prefix + request.path
        request.headers["host"] = target.authority
