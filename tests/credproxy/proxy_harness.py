"""Starting a real credential proxy against the fake upstream (shared by tests and fixtures).

Kept out of ``conftest.py``: test modules import it by name, and in a whole-suite run the name
``conftest`` belongs to whichever conftest was imported first.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from credproxy_fakes import HOSTS, REAL_KEYS, FakeUpstream

from appliance.credproxy import CredentialProxy, ProxyConfig, ProxyEvent


class Running:
    def __init__(self, proxy: CredentialProxy, events: list[ProxyEvent]) -> None:
        self.proxy = proxy
        self.events = events
        self.endpoints = proxy.endpoints
        assert self.endpoints is not None
        self.budget_reason: str | None = None
        self.budget_error: Exception | None = None

    def budget(self) -> str | None:
        if self.budget_error is not None:
            raise self.budget_error
        return self.budget_reason

    def client(self, **kwargs: object) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.endpoints.ca_cert_pem_path))
        return httpx.Client(
            proxy=f"http://127.0.0.1:{self.endpoints.tcp_port}",
            verify=context,
            trust_env=False,
            timeout=10,
            **kwargs,
        )

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def start_proxy(
    upstream: FakeUpstream, pki: tuple[Path, Path, Path], ca_dir: Path, **overrides: object
) -> Running:
    settings: dict = {
        "real_keys": REAL_KEYS,
        "providers": ("anthropic", "openai", "google"),
        "upstream_overrides": {h: ("127.0.0.1", upstream.port) for h in HOSTS},
        "extra_upstream_ca": pki[0],
        "confdir": ca_dir,
    }
    settings.update(overrides)
    events: list[ProxyEvent] = []
    holder: dict[str, Running] = {}
    proxy = CredentialProxy(
        ProxyConfig(**settings),
        events.append,
        budget_check=lambda: holder["r"].budget(),
    )
    proxy.start()
    holder["r"] = Running(proxy, events)
    return holder["r"]
