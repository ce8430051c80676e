"""The credential proxy of Docker mode: the container's only road to its LLM provider.

mitmproxy as a library terminates the agent's TLS with a per-installation CA, lets through only the
configured provider hosts and routes, checks the session's fake key and swaps in the real one, and
meters token usage for the session's budgets. It must never forward a request that did not pass
every check, never let the real key reach the container, and never fail open: an error anywhere
in a hook kills the flow. This package is the only importer of mitmproxy, and imports it lazily.

Errors: `ProxyStartError` (could not start) and `CaError` (the CA files are unsafe), both for the
operator; the agent only ever sees a 403 with a short reason, or a cut connection.
"""

from appliance.credproxy.ca import CaError, CaFiles, ensure_ca
from appliance.credproxy.config import ProxyConfig, proxy_config_from
from appliance.credproxy.events import ProxyEvent, TokenUsage
from appliance.credproxy.proxy import CredentialProxy, ProxyEndpoints, ProxyStartError

__all__ = [
    "CaError",
    "CaFiles",
    "CredentialProxy",
    "ProxyConfig",
    "ProxyEndpoints",
    "ProxyEvent",
    "ProxyStartError",
    "TokenUsage",
    "ensure_ca",
    "proxy_config_from",
]
