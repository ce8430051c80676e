"""The last line: nothing leaves unless every check passed; traffic that is not HTTP is cut.

The seal is the final addon in the chain. It re-reads the check ledger at both request hooks, so
a check that silently did not run (an exception mitmproxy swallowed, a hook that returned early)
means the flow is killed, not forwarded. It also refuses any upstream connection that is not to
an allowed provider on 443 (or to the gateway configured in its place), whatever a flow says.
"""

from __future__ import annotations

from typing import Any

from appliance.credproxy.addons.base import (
    REQUIRED_CHECKS,
    Reporter,
    close_client_socket,
    cut_connection,
    denied,
    fail_closed,
    is_package,
    kill,
    ledger,
    logger,
    mark_forwarded,
)
from appliance.credproxy.addons.packages import PACKAGE_CHECK
from appliance.credproxy.providers import PROVIDERS

__all__ = ["Seal"]


class Seal:
    def __init__(
        self,
        allowed: tuple[str, ...],
        reporter: Reporter,
        gateways: dict[str, tuple[str, int]] | None = None,
        registries: frozenset[str] = frozenset(),
    ) -> None:
        """``gateways``: provider -> (host, port) its requests go to instead of its own host.
        ``registries``: the package registries' hosts (on 443), when the package gate is on."""
        gateways = gateways or {}
        self.endpoints = frozenset(
            gateways.get(name, (PROVIDERS[name].host, 443)) for name in allowed
        ) | frozenset((host, 443) for host in registries)
        self.reporter = reporter

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        self._require_checks(flow)

    @fail_closed
    def request(self, flow: Any) -> None:
        if is_package(flow):  # reported by the package gate when its answer comes, never charged
            if self._require_checks(flow):
                mark_forwarded(flow)
            return
        if self._require_checks(flow, REQUIRED_CHECKS | {"reserved", "body"}):
            mark_forwarded(flow)
            self.reporter.emit(flow, "forwarded")

    def _require_checks(self, flow: Any, required: frozenset[str] = REQUIRED_CHECKS) -> bool:
        if is_package(flow):  # a registry request passes the package gate's check instead
            required = frozenset({PACKAGE_CHECK})
        if flow.error is not None:
            return False  # killed already, and reported by whoever killed it
        if denied(flow) and flow.response is not None:
            return False  # answered by the proxy itself
        missing = required - ledger(flow)
        if missing or flow.response is not None:
            kill(flow, self.reporter, "unchecked", f"checks not passed: {sorted(missing)}")
            return False
        return True

    @fail_closed
    def error(self, flow: Any) -> None:
        # Our own kills are reported where they happen; everything else is an upstream failure.
        if flow.error is not None and flow.error.msg != flow.error.KILLED_MESSAGE:
            # status None: no response ever came (connection refused, DNS, TLS): the host tells
            # the operator at once that the provider is unreachable.
            status = flow.response.status_code if flow.response is not None else None
            if is_package(flow):  # a registry's failure is not the provider's: no session stop
                self.reporter.emit_quietly(
                    flow, "package", status=status, rule="registry-error",
                    reason=flow.error.msg[:200],
                )  # fmt: skip
                return
            self.reporter.emit_quietly(flow, "error", status=status, reason=flow.error.msg[:200])

    def client_disconnected(self, client: Any) -> None:
        try:
            close_client_socket(client)
        except Exception:  # never let the clean-up fail the hook chain
            logger.exception("credential proxy: closing a client socket failed")

    # Raw TCP, UDP, DNS and WebSocket traffic carries no key to check: cut it.
    @fail_closed
    def tcp_start(self, flow: Any) -> None:
        kill(flow, self.reporter, "not-http", "raw TCP is not allowed")
        # mitmproxy's TCP layer does not look at the kill before it dials: cut the client too.
        # (Unreachable with rawtcp off and no tcp_hosts; kept so a future option cannot open it.)
        cut_connection(flow)

    @fail_closed
    def udp_start(self, flow: Any) -> None:
        kill(flow, self.reporter, "not-http", "UDP is not allowed")

    @fail_closed
    def dns_request(self, flow: Any) -> None:
        kill(flow, self.reporter, "not-http", "DNS is not allowed")

    @fail_closed
    def websocket_start(self, flow: Any) -> None:
        kill(flow, self.reporter, "not-http", "WebSocket is not allowed")

    def server_connect(self, data: Any) -> None:
        try:
            host, port = data.server.address[0], data.server.address[1]
            allowed = (str(host).lower().rstrip("."), port) in self.endpoints
        except Exception:
            logger.exception("credential proxy: server_connect check failed")
            allowed = False
        if not allowed:
            data.server.error = "IronCurtain credential proxy: upstream not allowed"
            logger.warning(
                "credential proxy: refused an upstream connection to %r", data.server.address
            )
