"""The MCP servers behind the chokepoint, declared as data: ``mcpServers`` in ``config.json``.

The shape is Claude Desktop's and IronCurtain's, so a user's existing block works as it is::

    "mcpServers": {
      "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"],
                 "env": {"MEMORY_FILE_PATH": "/home/me/memory.json"}},
      "tracker": {"command": "/opt/tracker-mcp", "env": {"TRACKER_TOKEN": "…"},
                  "confinement": "/home/me/.ironcurtain/profiles/tracker.json"}
    }

The three servers the appliance ships (filesystem, git, fetch) are the defaults of this same
registry (:func:`registry`): an entry with one of their names replaces the shipped server (the
reference filesystem server in place of ours, say), and the shipped annotations and policy then
govern it like any other.

- ``env`` is the server's own environment: credentials put there reach that server's process
  only — never the agent, the sandbox, another server — and the chokepoint redacts their
  values wherever they would appear in the audit log.
- ``confinement``: a kernel confinement profile (the format of ``servers/NAME/confinement.json``,
  docs/confinement.md), as a path or inline; the server is then started through
  ``ironcurtain confine`` which applies it before executing the command. Without one, a declared
  server runs unconfined, and the session says so at start (a weakening, audited).
- ``judge``: a JSON-RPC method the server answers before the policy decides (the facts of a call
  that need I/O); only servers that implement one name it.
- ``url`` + ``headers``: a remote server over Streamable HTTP (servers/wire/http_client.py).
  The headers are that server's credentials: sent with its requests only, redacted like ``env``
  values. https, or plain http to a loopback address only; redirects are never followed. No
  kernel confinement applies to a server that is not a process here (a weakening, said at start).

Names become the server's namespace in Code Mode (``memory.read_graph()``; ``-`` becomes ``_``) and
the prefix of its tools in ``mcp-proxy`` (``memory__read_graph``), hence :func:`check_name`.
"""

from __future__ import annotations

import ipaddress
import keyword
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.errors import ApplianceError

__all__ = [
    "BUILTIN_SERVERS",
    "DeclaredServer",
    "ServerDeclarationError",
    "check_name",
    "is_builtin",
    "registry",
]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")  # RFC 9110 token
# headers the Streamable HTTP transport sets itself (servers.wire.http_client.RESERVED_HEADERS)
_TRANSPORT_HEADERS = frozenset(
    {"accept", "content-type", "content-length", "host", "mcp-session-id", "mcp-protocol-version",
     "transfer-encoding", "connection", "last-event-id"}
)  # fmt: skip
# Environment variables the appliance itself sets for a server; a declaration may not override
# them (they carry the confinement mode and the appliance's home).
_RESERVED_ENV = frozenset({"IRONCURTAIN_CONFINEMENT", "IRONCURTAIN_HOME", "IRONCURTAIN_CACHE"})


class ServerDeclarationError(ApplianceError, ValueError):
    """A declaration that cannot be used; the message names the server and the field."""


class DeclaredServer(BaseModel):
    """One ``mcpServers`` entry (stdio: ``command``; remote: ``url``)."""

    model_config = ConfigDict(
        defer_build=True, frozen=True, extra="forbid", strict=True, populate_by_name=True
    )

    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Claude Desktop / Cursor files may carry these; "stdio" and "http" are what they mean here.
    type: Literal["stdio", "http", "streamable-http"] | None = None
    disabled: bool = False
    confinement: str | dict[str, Any] | None = None
    judge: str | None = None
    description: str = ""

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"env: {name!r} is not an environment variable name")
            if name in _RESERVED_ENV:
                raise ValueError(f"env: {name} is set by the appliance itself")
            if "\x00" in text:
                raise ValueError(f"env: {name} holds a NUL byte")
        return value

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("/", "~")):
            raise ValueError("cwd: expected an absolute path or one starting with '~'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        problem = remote_url_problem(value)
        if problem:
            raise ValueError(problem)  # the loader names the field and the value
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"headers: {name!r} is not an HTTP header name")
            if name.lower() in _TRANSPORT_HEADERS:
                raise ValueError(f"headers: {name} is set by the transport itself")
            if any(c in text for c in "\r\n\x00"):
                raise ValueError(f"headers: {name} holds a line break or NUL byte")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> DeclaredServer:
        if self.disabled and self.command is None and self.url is None:
            return self  # {"disabled": true}: switches a shipped server off
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (Streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd or self.confinement):
            raise ValueError("a remote server ('url') takes only 'headers', not args/env/cwd")
        if self.command is not None and self.headers:
            raise ValueError("'headers' apply to a remote server ('url') only")
        if self.command is not None and (not self.command or "\x00" in self.command):
            raise ValueError("command: expected a program name or path")
        return self

    @property
    def remote(self) -> bool:
        return self.url is not None

    def secrets(self) -> tuple[str, ...]:
        """Values to redact from the audit: the server's env values and header values that
        look like credentials (8+ characters; short values would redact ordinary words). A
        header's words count on their own too: the token of ``Bearer TOKEN`` leaks as well
        without its scheme."""
        words = [w for v in self.headers.values() for w in v.split() if w != v]
        values = [*self.env.values(), *self.headers.values(), *words]
        return tuple(dict.fromkeys(v for v in values if len(v) >= 8))


def remote_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a remote server's endpoint, or None: http(s), a host, no user
    info (credentials belong in ``headers``), and plain http only to a loopback address, since
    the headers would otherwise cross the network in clear. (The transport checks the same
    again: servers/wire/http_client.py.)"""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"expected a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "expected no user info in the URL (credentials go in 'headers')"
    if parts.scheme == "http" and not _loopback(parts.hostname):
        host = parts.hostname
        return f"expected https: plain http to {host} would send the headers in clear"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_name(name: str) -> str:
    """Letters, digits, '-' and '_', starting with a letter; never '__' (``mcp-proxy`` names
    tools ``SERVER__TOOL``). Code Mode's namespace is the name with '-' as '_'."""
    if not _NAME.fullmatch(name) or "__" in name or keyword.iskeyword(name):
        raise ServerDeclarationError(
            f"mcpServers: {name!r} is not a usable server name (letters, digits, '-' and '_', "
            "starting with a letter, no '__')"
        )
    return name


# The shipped servers: ``ironcurtain serve NAME`` from this executable, each with the
# confinement profile next to it (servers/NAME/confinement.json). Defaults of the registry.
BUILTIN_SERVERS: Mapping[str, dict[str, Any]] = {
    "filesystem": {"description": "files under the allowed folders (ironcurtain serve filesystem)"},
    "git": {
        "description": "git repositories inside the sandbox (ironcurtain serve git)",
        "judge": "ironcurtain/judge",
    },
    "fetch": {"description": "web pages and web search (ironcurtain serve fetch)"},
    # only when a GitHub token is configured (githubToken or GITHUB_PERSONAL_ACCESS_TOKEN)
    "github": {"description": "GitHub's API (ironcurtain serve github)", "needs": "github_token"},
}


def is_builtin(name: str, declared: Mapping[str, DeclaredServer]) -> bool:
    return name in BUILTIN_SERVERS and name not in declared


def registry(
    declared: Mapping[str, DeclaredServer], available: Mapping[str, bool] | None = None
) -> dict[str, DeclaredServer | None]:
    """Every server a session has, by name: ``None`` for a shipped server (started as
    ``ironcurtain serve NAME``), the declaration otherwise. Disabled entries are left out — a
    disabled entry with a shipped server's name removes that server. A shipped server that
    ``needs`` a setting is included only when ``available`` says that setting is present."""
    available = available or {}
    found: dict[str, DeclaredServer | None] = {
        name: None
        for name, spec in BUILTIN_SERVERS.items()
        if "needs" not in spec or available.get(spec["needs"])
    }
    for name, entry in declared.items():
        check_name(name)
        if entry.disabled:
            found.pop(name, None)
        else:
            found[name] = entry
    return found
