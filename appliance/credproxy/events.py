"""What the proxy reports to its host: one event per decision, usage reading or failure.

Events never carry a key, a request body or a query string (a query may hold ``key=``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from appliance.credproxy.providers import ProviderName

__all__ = ["EventKind", "ProxyEvent", "TokenUsage"]

# forwarded: a request passed every check and went upstream.
# denied:    the proxy answered itself (403); nothing went upstream.
# usage:     the provider's response is complete: its status and the token counts read from it
#            (usage is None for an error status or when none could be read; reason says which).
# cut:       a forwarded exchange ended before its response did (the client hung up, the upstream
#            failed mid-stream); usage holds what was read by then (None if nothing was).
# killed:    a hook failed or a flow skipped a check; the connection was cut, nothing forwarded.
# error:     the upstream exchange failed (connection refused, reset, TLS error).
# package:   a package-registry exchange (addons/packages.py): what passed, what the age gate
#            took out of a listing, or an upstream failure; never charged to the budget.
EventKind = Literal["forwarded", "denied", "usage", "cut", "killed", "error", "package"]


class TokenUsage(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    model: str | None = None

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


class ProxyEvent(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    kind: EventKind
    flow_id: str
    host: str
    method: str
    path: str  # without the query
    provider: ProviderName | None = None
    status: int | None = None  # what the client was sent, when the proxy decided it
    rule: str | None = None  # which check decided (denied / killed)
    reason: str = ""
    usage: TokenUsage | None = None
