"""The proxy's decisions as pure functions over plain request facts (no mitmproxy in here).

Each check returns ``None`` (pass) or a `Denial` naming its rule; the addons only translate a
flow into `RequestFacts` and a `Denial` into a 403. Keeping the logic here lets the adversarial
vectors run both against these functions and through the live proxy.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from appliance.credproxy.providers import Provider, provider_for_host

__all__ = [
    "Denial",
    "RequestFacts",
    "authority_host",
    "check_body",
    "check_destination",
    "check_key",
    "check_route",
    "has_control_character",
]


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every control character but TAB


def has_control_character(headers: Iterable[tuple[str, str]]) -> bool:
    """A header name or value holds a control character other than TAB (provider and package
    requests alike: a lenient upstream may end a header line there)."""
    return any(_CONTROL.search(name) or _CONTROL.search(value) for name, value in headers)


@dataclass(frozen=True)
class Denial:
    rule: str
    reason: str  # short and safe to show the agent: never a key, never an exception text
    status: int = 403


@dataclass(frozen=True)
class RequestFacts:
    method: str
    scheme: str
    host: str  # where the connection goes (the CONNECT target)
    port: int
    path: str  # without the query
    host_header: str | None = None
    sni: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, value), repeats kept
    query: tuple[tuple[str, str], ...] = ()
    authority: str = ""  # the request target's authority (absolute form, or HTTP/2 :authority)

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def check_destination(host: str, port: int, allowed: tuple[str, ...]) -> Provider | Denial:
    """The CONNECT (or absolute-URL) target: an allowed provider host on port 443, nothing else."""
    provider = provider_for_host(host)
    if provider is None or provider.name not in allowed:
        return Denial("host-not-allowed", f"host {host!r} is not allowed")
    if port != 443:
        return Denial("port-not-allowed", f"port {port} is not allowed for {provider.host}")
    return provider


def check_route(provider: Provider, facts: RequestFacts) -> Denial | None:
    if facts.scheme != "https":
        return Denial("scheme-not-https", "only HTTPS requests are allowed")
    if facts.host_header is None or _strip_port(facts.host_header) != provider.host:
        return Denial("host-header-mismatch", "the Host header does not match the connection")
    if has_control_character(facts.headers):
        # A bare CR or a NUL passes mitmproxy's parser; a lenient upstream may end a header line
        # there, and what follows becomes a header (or a request) we never checked.
        return Denial("header-control-character", "a header holds a control character")
    if facts.authority and authority_host(facts.authority) != provider.host:
        return Denial("authority-mismatch", "the request target names another host")
    if facts.sni is not None and facts.sni.lower().rstrip(".") != provider.host:
        return Denial("sni-mismatch", "the TLS server name does not match the connection")
    if facts.header_values("upgrade"):
        return Denial("upgrade-refused", "protocol upgrades are not allowed")
    if not any(route.matches(facts.method, facts.path) for route in provider.routes):
        return Denial("route-not-allowed", f"{facts.method} {facts.path} is not allowed")
    return None


def check_key(provider: Provider, facts: RequestFacts, fake_key: str) -> Denial | None:
    """Exactly one credential, in one of the provider's places, equal to the issued fake key."""
    offered = [
        _credential(name, v) for name in provider.key_headers for v in facts.header_values(name)
    ]
    if provider.key_query_param is not None:
        offered += [v for k, v in facts.query if k == provider.key_query_param]
    if not offered:
        return Denial("key-missing", "no API key in the request")
    if len(offered) > 1:
        return Denial("key-ambiguous", "more than one credential in the request")
    # Same opaque answer for every wrong key; compare in constant time.
    value = offered[0].encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(value, fake_key.encode()):
        return Denial("key-mismatch", "the API key is not the one issued to this session")
    return None


def _credential(header: str, value: str) -> str:
    """The key inside a header value: ``Authorization`` must say ``Bearer``, others are bare."""
    if header != "authorization":
        return value
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" else ""


def authority_host(authority: str) -> str | None:
    """The host an absolute-form target or :authority names, if it is a plain host[:443]; no
    userinfo, no other port, no whitespace (None: never equal to a provider's host)."""
    if "@" in authority or any(c.isspace() for c in authority):
        return None
    host = authority.lower()
    if host.endswith(":443"):
        host = host[:-4]
    return None if ":" in host else host.rstrip(".")


def _strip_port(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.endswith(":443"):
        host = host[:-4]
    return host.rstrip(".")


# Tools the provider runs on its own side can reach any host the agent names (Anthropic's
# web_fetch / web_search and MCP connector, OpenAI's web_search and mcp, Gemini's url_context and
# google_search), and so can content the provider fetches by URL (an image or document source).
# Only tools the client itself executes pass (an allowlist: a new server tool is refused until
# listed); a source must carry its data, never a URL to fetch.
_CLIENT_TOOLS = {
    "anthropic": re.compile(r"custom|(bash|text_editor|computer|memory)_\d{8}"),
    "openai": re.compile(r"function|custom|local_shell|shell|apply_patch|computer_use_preview"),
}
_GOOGLE_TOOL_KEYS = frozenset({"functiondeclarations", "function_declarations"})
# keys naming a provider's fetching feature, refused whatever their value. Keys compare without
# case everywhere here (and two keys equal but for case are refused): some JSON decoders (Go's)
# match field names case-insensitively.
_REMOTE_KEYS = frozenset({"mcp_servers", "web_search_options", "filedata", "file_data"})
_URL_FIELDS = ("url", "image_url", "file_url")
_REMOTE_URL = re.compile(r"\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def check_body(provider: Provider, body: bytes) -> Denial | None:
    """The request body asks the provider to contact nothing but itself: a JSON object, each key
    once, no server-side tool that fetches, no content given as a URL for the provider to fetch.
    An empty body asks for nothing (the provider answers it 400)."""
    if not body.strip():
        return None
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):  # also duplicate keys: parsers differ on which wins
        return Denial("body-refused", "the request body is not one JSON object with unique keys")
    if not isinstance(document, dict):
        return Denial("body-refused", "the request body is not one JSON object with unique keys")
    tools = next((v for k, v in document.items() if k.lower() == "tools"), None) or []
    for tool in tools if isinstance(tools, list) else [tools]:
        if not _client_tool(provider, tool):
            return Denial("server-tool-refused", "tools the provider runs itself are not allowed")
    # The client tools' definitions were read above (a parameter may be named "url" or
    # "file_data": a schema, never fetched); the rest of the body is read through.
    stack: list[Any] = [{k: v for k, v in document.items() if k.lower() != "tools"}]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            lowered = {k.lower(): v for k, v in value.items()}
            if _REMOTE_KEYS & lowered.keys() or any(
                _is_remote(lowered.get(f)) for f in _URL_FIELDS
            ):
                return Denial("remote-content-refused", "content the provider fetches by URL")
            stack.extend(v for k, v in lowered.items() if not _client_data(lowered, k))
    return None


def _client_data(block: dict[str, Any], key: str) -> bool:
    """Whether ``block[key]`` is data of a client tool's call, which the provider never fetches:
    the model's arguments to it (Anthropic's ``tool_use`` input, Gemini's ``functionCall``
    args) and what the client's tool answered (Gemini's ``functionResponse`` response)."""
    if key == "input":
        return block.get("type") == "tool_use"
    if key == "args":
        return isinstance(block.get("name"), str) and not ({"response"} & block.keys())
    if key == "response":
        return isinstance(block.get("name"), str) and "args" not in block
    return False


def _client_tool(provider: Provider, tool: Any) -> bool:
    if not isinstance(tool, dict):
        return False
    if provider.name == "google":
        return bool(tool) and {k.lower() for k in tool} <= _GOOGLE_TOOL_KEYS
    kind = next((v for k, v in tool.items() if k.lower() == "type"), "custom")
    return isinstance(kind, str) and _CLIENT_TOOLS[provider.name].fullmatch(kind) is not None


def _is_remote(value: Any) -> bool:
    if isinstance(value, dict):
        value = next((v for k, v in value.items() if k.lower() == "url"), None)
    return isinstance(value, str) and _REMOTE_URL.match(value) is not None  # data: passes


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key.lower() for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)
