"""What the proxy knows about each LLM provider: host, routes, where the key travels, key format.

This table is the whole of the proxy's knowledge of the outside world. A provider not listed here
cannot be configured; a route not listed for a provider is refused. Routes are matched against the
request path without its query, in full (``re.fullmatch``), so ``/v1/messages/../admin`` or a
percent-encoded variant never matches ``/v1/messages``.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PROVIDERS",
    "Provider",
    "ProviderName",
    "Route",
    "make_fake_key",
    "make_fake_oauth_token",
    "provider_for_host",
]

ProviderName = Literal["anthropic", "openai", "google"]

_KEY_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class Route:
    """One allowed endpoint: an HTTP method and a regular expression for the whole path."""

    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


@dataclass(frozen=True)
class Provider:
    name: ProviderName
    host: str
    routes: tuple[Route, ...]
    # Header names (lower case) that may carry the agent's key. Every one of them is stripped
    # before forwarding; the real key is then written into `real_key_header` only.
    key_headers: tuple[str, ...]
    real_key_header: str
    bearer: bool  # the real key header's value is "Bearer <key>"
    key_query_param: str | None  # Google also accepts ?key=...
    fake_prefix: str
    fake_length: int  # characters after the prefix

    def error_body(self, message: str) -> dict:
        """A refusal shaped like the provider's own errors, so the agent's SDK shows the message."""
        if self.name == "anthropic":
            return {"type": "error", "error": {"type": "permission_error", "message": message}}
        if self.name == "openai":
            return {"error": {"message": message, "type": "permission_error", "code": "denied"}}
        return {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}


_GOOGLE_MODEL = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"

PROVIDERS: dict[ProviderName, Provider] = {
    "anthropic": Provider(
        name="anthropic",
        host="api.anthropic.com",
        routes=(
            Route("POST", r"/v1/messages"),
            Route("POST", r"/v1/messages/count_tokens"),
        ),
        key_headers=("x-api-key", "authorization"),
        real_key_header="x-api-key",
        bearer=False,
        key_query_param=None,
        fake_prefix="sk-ant-api03-",
        fake_length=95,
    ),
    "openai": Provider(
        name="openai",
        host="api.openai.com",
        routes=(
            Route("POST", r"/v1/chat/completions"),
            Route("POST", r"/v1/responses"),
        ),
        key_headers=("authorization",),
        real_key_header="authorization",
        bearer=True,
        key_query_param=None,
        fake_prefix="sk-proj-",
        fake_length=156,
    ),
    "google": Provider(
        name="google",
        host="generativelanguage.googleapis.com",
        routes=(
            Route(
                "POST",
                rf"/v1(beta)?/models/{_GOOGLE_MODEL}:(generateContent|streamGenerateContent"
                r"|countTokens)",
            ),
        ),
        key_headers=("x-goog-api-key", "authorization"),
        real_key_header="x-goog-api-key",
        bearer=False,
        key_query_param="key",
        fake_prefix="AIza",
        fake_length=35,
    ),
}

# Headers that carry some credential or session state for any provider: all are removed from a
# forwarded request so nothing but the real key of the request's own provider reaches upstream.
CREDENTIAL_HEADERS = frozenset(
    {"x-api-key", "authorization", "x-goog-api-key", "proxy-authorization", "cookie"}
)


def provider_for_host(host: str) -> Provider | None:
    host = host.lower().rstrip(".")
    return next((p for p in PROVIDERS.values() if p.host == host), None)


def make_fake_key(provider: Provider) -> str:
    """A fresh key in the provider's format: it passes the agent's format checks, opens nothing."""
    body = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(provider.fake_length))
    if provider.name == "anthropic":
        body = body[:-2] + "AA"  # real Anthropic keys end so; some clients check
    return provider.fake_prefix + body


def make_fake_oauth_token() -> str:
    """A placeholder shaped like a Claude subscription's access token (``sk-ant-oat01-``)."""
    body = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(93))
    return "sk-ant-oat01-" + body + "AA"
