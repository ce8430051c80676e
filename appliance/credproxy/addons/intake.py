"""The in-flight body budget, at the flow's edges (the counting itself is ``inflight.py``).

First in the chain. At the request's headers a declared Content-Length is reserved whole, or
the request is refused at once (503, the limit named) and its body read and dropped; a chunked
body is charged as it arrives and, if it goes over, refused (503) when it ends. The flow's charge
is released when it ends, whichever way: its response, an error (refused, killed, cut, upstream
failure), or its client gone.
"""

from __future__ import annotations

from typing import Any

from mitmproxy.net.http.http1 import expected_http_body_size

from appliance.credproxy.addons.base import Reporter, denied, deny, fail_closed, logger
from appliance.credproxy.checks import Denial
from appliance.credproxy.inflight import OVER_BUDGET, BodyLedger
from appliance.credproxy.limits import MiB
from appliance.credproxy.providers import PROVIDERS

__all__ = ["BodyIntake"]

RULE = "body-budget"


class BodyIntake:
    def __init__(self, ledger: BodyLedger, reporter: Reporter) -> None:
        self.ledger = ledger
        self.reporter = reporter
        self._flows_of: dict[str, set[str]] = {}  # client id -> its flows that may hold bytes

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        self._flows_of.setdefault(flow.client_conn.id, set()).add(flow.id)
        length = _declared_length(flow.request)
        if length is None or length > self.ledger.per_body:
            return  # chunked: charged as it comes; over the cap: mitmproxy answers 413
        if not self.ledger.reserve(flow.id, "request", length):
            flow.metadata[OVER_BUDGET] = "request"
            self._refuse(flow)

    @fail_closed
    def request(self, flow: Any) -> None:
        if flow.metadata.get(OVER_BUDGET) == "request" and not denied(flow):
            self._refuse(flow)  # a chunked body that went over while it arrived

    def response(self, flow: Any) -> None:
        self._done(flow)

    def error(self, flow: Any) -> None:
        self._done(flow)
        if flow.metadata.get(OVER_BUDGET) == "response":
            self.reporter.emit_quietly(flow, "killed", rule=RULE, reason=self._limit())

    def client_disconnected(self, client: Any) -> None:
        """A flow whose end mitmproxy never reported still ends with its connection."""
        for flow_id in self._flows_of.pop(client.id, ()):
            self.ledger.release(flow_id)

    def _done(self, flow: Any) -> None:
        self.ledger.release(flow.id)
        flows = self._flows_of.get(flow.client_conn.id)
        if flows is not None:
            flows.discard(flow.id)

    def _refuse(self, flow: Any) -> None:
        reason = f"{self._limit()}; retry when other requests have finished"
        provider = next((p for p in PROVIDERS.values() if p.host == flow.request.host), None)
        deny(flow, self.reporter, Denial(RULE, reason, status=503), provider)
        flow.response.headers["retry-after"] = "2"
        logger.warning("credential proxy: request %s refused: %s", flow.id, reason)

    def _limit(self) -> str:
        budget = self.ledger.budget
        size = f"{budget // MiB} MiB" if budget % MiB == 0 else f"{budget} bytes"
        return f"bodies in flight would exceed {size} (max_inflight_body_bytes)"


def _declared_length(request: Any) -> int | None:
    """The body's length from its headers, or None when it is chunked (or unparsable: mitmproxy
    refuses those itself)."""
    try:
        length = expected_http_body_size(request)
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None
