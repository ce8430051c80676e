"""The session's token and cost budgets: once the host says stop, no request goes upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    fail_closed,
    passed,
    provider_of,
    settled,
)
from appliance.credproxy.checks import Denial

__all__ = ["Budget"]


class Budget:
    """`check()` returns None to admit a request, or the reason the budget refuses it.

    403 rather than 429: SDKs retry a 429 with back-off, which would only spin an agent whose
    budget is spent. A check that raises refuses too (through `fail_closed`).
    """

    def __init__(self, check: Callable[[], str | None] | None, reporter: Reporter) -> None:
        self.check = check
        self.reporter = reporter

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        if settled(flow):
            return
        reason = self.check() if self.check is not None else None
        if reason is not None:
            denial = Denial("budget-exhausted", f"budget exhausted: {reason}")
            deny(flow, self.reporter, denial, provider_of(flow))
            return
        passed(flow, "budget")
