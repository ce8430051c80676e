"""Budgets in Docker mode, from what the credential proxy reads off the provider's responses.

The agent in the container reports nothing we could trust; the proxy sees every LLM exchange. A
`usage` event adds its tokens (and, in a worker thread, the estimated cost from litellm's price
map, whose import costs seconds and must not stall the proxy); every forwarded request is one
step. Once any budget is used up, `refusal()` names it: the proxy answers 403 to every later
request and the session's supervisor stops the container. Wall-clock time is checked by the
supervisor calling `check()` once a second.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from appliance.budget import Budget, BudgetExceeded, BudgetLimits

__all__ = ["UsageMeter"]


def litellm_cost(model: str | None, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated USD for one exchange, or None when the model's price is unknown."""
    if not model:
        return None
    import litellm

    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
    except Exception:  # litellm raises plain Exception for an unmapped model
        return None
    return float(prompt) + float(completion)


class UsageMeter:
    def __init__(
        self,
        limits: BudgetLimits,
        *,
        price: Callable[[str | None, int, int], float | None] = litellm_cost,
        warn: Callable[[str], None] = lambda text: print(f"warning: {text}", file=sys.stderr),
    ) -> None:
        self.budget = Budget(limits)
        self._price = price
        self._warn = warn
        self._lock = threading.Lock()
        self._exhausted: str | None = None
        self._unpriced: set[str] = set()
        self._costs: queue.Queue[Any] = queue.Queue()
        self._worker = threading.Thread(target=self._cost_loop, name="usage-cost", daemon=True)
        self._worker.start()
        self.exhausted = threading.Event()

    def on_event(self, event: Any) -> None:
        """The proxy's callback (its thread). Cheap; never raises on a well-formed event."""
        if event.kind == "forwarded":
            with self._lock:
                self.budget.add_step()
            self.check()
        elif event.kind == "usage" and event.usage is not None:
            with self._lock:
                self.budget.add_usage(event.usage.total_tokens, 0.0)
            self._costs.put(event.usage)
            self.check()

    def refusal(self) -> str | None:
        """Asked by the proxy before each request: None admits, a reason refuses."""
        return self._exhausted

    def check(self) -> str | None:
        """Re-evaluate every budget (wall-clock too); return the reason once one is used up."""
        with self._lock:
            if self._exhausted is None:
                try:
                    for text in self.budget.check():
                        self._warn(text)
                except BudgetExceeded as exc:
                    self._exhausted = str(exc)
                    self.exhausted.set()
            return self._exhausted

    def _cost_loop(self) -> None:
        while (usage := self._costs.get()) is not None:
            cost = self._price(usage.model, usage.input_tokens, usage.output_tokens)
            if cost is None:
                self._note_unpriced(usage.model)
                continue
            with self._lock:
                self.budget.add_usage(0, cost)
            self.check()

    def _note_unpriced(self, model: str | None) -> None:
        name = model or "(not named)"
        if name not in self._unpriced:
            self._unpriced.add(name)
            self._warn(f"no price known for model {name}: the cost budget does not count it")

    def close(self) -> None:
        self._costs.put(None)
        self._worker.join(timeout=5)

    def describe(self) -> str:
        with self._lock:
            return self.budget.describe()
