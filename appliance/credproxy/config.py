"""The proxy's settings: one frozen model, validated once at the boundary, passed in explicitly."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from appliance.credproxy.limits import MAX_BODY_BYTES, MAX_INFLIGHT_BODY_BYTES
from appliance.credproxy.oauth import TOKEN_URL
from appliance.credproxy.packages import REGISTRY_HOSTS
from appliance.credproxy.providers import PROVIDERS, ProviderName

__all__ = ["PackageSettings", "ProxyConfig", "proxy_config_from"]

_HOSTS = {p.host for p in PROVIDERS.values()}


class PackageSettings(BaseModel):
    """The package gate (``addons/packages.py``): IronCurtain's ``packageInstall`` keys, plus
    which registries and what an unlisted package gets."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    registries: tuple[Literal["npm", "pypi", "debian"], ...] = ("npm", "pypi", "debian")
    allowed_packages: tuple[str, ...] = ()
    denied_packages: tuple[str, ...] = ()
    default_action: Literal["allow", "deny", "escalate"] = "allow"
    quarantine_days: int = Field(default=2, ge=0, le=3650)

    @field_validator("allowed_packages", "denied_packages")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if not pattern or len(pattern) > 214 or any(c.isspace() for c in pattern):
                raise ValueError(f"{pattern!r} is not a package name or glob")
        return patterns


class ProxyConfig(BaseModel):
    """Settings of one credential proxy (one per Docker session).

    ``providers`` is the allowlist: an empty tuple allows nothing. Each allowed provider needs its
    real key. ``upstream_overrides`` and ``extra_upstream_ca`` exist so tests can put a fake
    provider on loopback; both loosen the boundary, so `loosening()` names them for the audit
    header.
    """

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    real_keys: dict[ProviderName, SecretStr] = Field(default_factory=dict)
    providers: tuple[ProviderName, ...] = ("anthropic",)
    # provider host -> (loopback address, port): where the upstream connection really goes.
    upstream_overrides: dict[str, tuple[str, int]] = Field(default_factory=dict)
    # A PEM bundle trusted for upstream TLS *instead of* the system store (fake upstreams only).
    extra_upstream_ca: Path | None = None
    socket_dir: Path | None = None  # None: a fresh private temporary folder
    socket_mode: int = 0o600
    confdir: Path | None = None  # None: app_paths().home / "ca"
    # One body, and every body held at once across all flows (limits.py says why and how).
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0)
    max_inflight_body_bytes: int = Field(default=MAX_INFLIGHT_BODY_BYTES, gt=0)
    # A Claude subscription instead of an Anthropic API key: Claude Code's credentials file,
    # read (and refreshed, and written back) on the host only. See credproxy/oauth.py.
    anthropic_oauth: Path | None = None
    # Where refreshes go: Anthropic's endpoint; a test may name an https loopback one.
    oauth_token_url: str = TOKEN_URL
    # provider -> the base URL its requests go to instead of its own host (a LiteLLM proxy,
    # OpenRouter, a local Ollama): https anywhere, plain http only on this machine (loopback).
    gateways: dict[ProviderName, str] = Field(default_factory=dict)
    # The package gate: npm and PyPI through the proxy (None: no registry is reachable).
    packages: PackageSettings | None = None

    @field_validator("real_keys")
    @classmethod
    def _keys_not_blank(cls, keys: dict[ProviderName, SecretStr]) -> dict[ProviderName, SecretStr]:
        for name, key in keys.items():
            value = key.get_secret_value()
            if not value.strip() or value != value.strip():
                raise ValueError(f"real_keys.{name}: the key is empty or has surrounding spaces")
        return keys

    @field_validator("upstream_overrides")
    @classmethod
    def _overrides_loopback(cls, overrides: dict[str, tuple[str, int]]) -> dict:
        for host, (address, port) in overrides.items():
            if host not in _HOSTS and host not in REGISTRY_HOSTS:
                raise ValueError(f"upstream_overrides: {host!r} is not a provider host")
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(
                    f"upstream_overrides.{host}: {address!r} is not a loopback address"
                )
            if not 0 < port < 65536:
                raise ValueError(f"upstream_overrides.{host}: port {port} is out of range")
        return overrides

    @field_validator("oauth_token_url")
    @classmethod
    def _token_url(cls, url: str) -> str:
        if url == TOKEN_URL:
            return url
        parsed = urlsplit(url)
        host = parsed.hostname or ""
        loopback = host == "localhost" or _is_loopback_ip(host)
        if parsed.scheme != "https" or not loopback or parsed.username or parsed.password:
            raise ValueError(
                f"oauth_token_url: {url!r}: only Anthropic's endpoint, or an https loopback one "
                "for tests"
            )
        return url

    @field_validator("gateways")
    @classmethod
    def _gateways(cls, gateways: dict[str, str]) -> dict[str, str]:
        for name, url in gateways.items():
            try:
                parsed = urlsplit(url)
                port = parsed.port
            except ValueError as exc:
                raise ValueError(f"gateways.{name}: {url!r}: {exc}") from None
            host = parsed.hostname or ""
            if parsed.scheme not in ("http", "https") or not host:
                raise ValueError(f"gateways.{name}: {url!r} is not an http(s) URL with a host")
            if parsed.username or parsed.password or parsed.query or parsed.fragment:
                raise ValueError(
                    f"gateways.{name}: {url!r}: no user info, query or fragment (the key is "
                    "sent the provider's way, in its header)"
                )
            if parsed.scheme == "http" and not (host == "localhost" or _is_loopback_ip(host)):
                raise ValueError(
                    f"gateways.{name}: {url!r}: plain http only to this machine (127.0.0.1, ::1, "
                    "localhost); the real key would cross the network in clear"
                )
            if port == 0:
                raise ValueError(f"gateways.{name}: {url!r}: port 0")
        return gateways

    @field_validator("socket_mode")
    @classmethod
    def _socket_mode(cls, mode: int) -> int:
        if mode not in (0o600, 0o660):
            raise ValueError(f"socket_mode: {oct(mode)} is neither 0o600 nor 0o660")
        return mode

    @model_validator(mode="after")
    def _keys_for_providers(self) -> ProxyConfig:
        if self.max_inflight_body_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_inflight_body_bytes: {self.max_inflight_body_bytes} is less than "
                f"max_body_bytes {self.max_body_bytes}: a body of the allowed size could never fit"
            )
        if len(set(self.providers)) != len(self.providers):
            raise ValueError(f"providers: duplicates in {list(self.providers)}")
        if self.anthropic_oauth is not None and "anthropic" in self.real_keys:
            raise ValueError("anthropic: an API key and a subscription at once; choose one")
        if self.anthropic_oauth is not None and "anthropic" in self.gateways:
            raise ValueError(
                "gateways.anthropic: a Claude subscription's token goes to Anthropic only; use "
                "an API key (IRONCURTAIN_DOCKER_AUTH=apikey) with a gateway"
            )
        stray = sorted(set(self.gateways) - set(self.providers))
        if stray:
            raise ValueError(f"gateways: {stray} not among the allowed providers")
        oauth = {"anthropic"} if self.anthropic_oauth is not None else set()
        missing = [p for p in self.providers if p not in self.real_keys and p not in oauth]
        if missing:
            raise ValueError(f"real_keys: no key for allowed provider(s) {missing}")
        return self

    def loosening(self) -> list[str]:
        """Settings that weaken the boundary, in words for the operator and the audit header."""
        notes = [
            f"upstream for {h} redirected to {a}:{p}"
            for h, (a, p) in self.upstream_overrides.items()
        ]
        notes += [
            f"{name} requests go to the gateway {url}, not {PROVIDERS[name].host}"
            for name, url in self.gateways.items()
        ]
        if self.packages is not None:
            p = self.packages
            notes.append(
                f"package registries reachable: {', '.join(p.registries)} (read-only; "
                f"default {p.default_action}, quarantine {p.quarantine_days} days, "
                f"{len(p.allowed_packages)} allowed and {len(p.denied_packages)} denied names)"
            )
        if self.oauth_token_url != TOKEN_URL:
            notes.append(f"subscription tokens refreshed at {self.oauth_token_url}")
        if self.extra_upstream_ca is not None:
            notes.append(f"upstream TLS trusts only {self.extra_upstream_ca}")
        if self.socket_mode != 0o600:
            notes.append(f"proxy socket is group-accessible ({oct(self.socket_mode)})")
        return notes


def proxy_config_from(app_config: Any, **settings: Any) -> ProxyConfig:
    """The proxy's settings from the appliance's `appliance.config.settings.Config`
    (duck-typed: it needs
    ``credential_proxy.allowed_providers`` and ``api_key_for(provider)``); `settings` add the
    per-session parts (socket_dir, ...). A provider allowed without a key is an operator error
    that names the setting and the environment variable that fix it."""
    from appliance.config.settings import PROVIDER_ENV

    allowed = tuple(app_config.credential_proxy.allowed_providers)
    keys = {name: app_config.api_key_for(name) for name in allowed}
    missing = [name for name, key in keys.items() if not key]
    if missing:
        name = missing[0]
        raise ValueError(
            f"credentialProxy.allowedProviders lists {name!r} but no {name} API key is set "
            f"(config.json {name}ApiKey, or {PROVIDER_ENV[name]} in the environment)"
        )
    return ProxyConfig(real_keys=keys, providers=allowed, **settings)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
