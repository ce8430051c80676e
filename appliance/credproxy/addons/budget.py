"""The session's token, cost and step budgets: once the host says stop, no request goes upstream;
before that, each request must first reserve what it may cost.

Two questions to the host. `check()` (at the request's headers): is any budget used up? `admit(
flow_id, body)` (once the body is read, just before it would go upstream): can the budgets cover
this request on top of everything already spent or reserved by requests in flight? The host
reserves the request's worst case then, and settles it from the `usage`/`cut` event that ends
the exchange; so parallel requests cannot together overshoot a budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    fail_closed,
    is_package,
    passed,
    provider_of,
    settled,
)
from appliance.credproxy.checks import Denial

__all__ = ["Budget"]


class Budget:
    """`check()` returns None to admit a request, or the reason the budget refuses it; so does
    `admit(flow_id, body)`, which also reserves.

    403 rather than 429: SDKs retry a 429 with back-off, which would only spin an agent whose
    budget is spent. A check that raises refuses too (through `fail_closed`).
    """

    def __init__(
        self,
        check: Callable[[], str | None] | None,
        reporter: Reporter,
        admit: Callable[[str, bytes], str | None] | None = None,
    ) -> None:
        self.check = check
        self.admit = admit
        self.reporter = reporter

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        if settled(flow) or is_package(flow):  # a registry download costs no tokens
            return
        reason = self.check() if self.check is not None else None
        if reason is not None:
            self._refuse(flow, f"budget exhausted: {reason}")
            return
        passed(flow, "budget")

    @fail_closed
    def request(self, flow: Any) -> None:
        if settled(flow) or is_package(flow):
            return
        encoding = flow.request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":  # its size would say nothing about the tokens inside
            self._refuse(flow, "compressed request bodies are not allowed", "encoding-refused")
            return
        if self.admit is not None:
            reason = self.admit(flow.id, flow.request.raw_content or b"")
            if reason is not None:
                self._refuse(flow, f"budget: {reason}")
                return
        passed(flow, "reserved")

    def _refuse(self, flow: Any, reason: str, rule: str = "budget-exhausted") -> None:
        deny(flow, self.reporter, Denial(rule, reason), provider_of(flow))
