"""Budgets and the proxy's audit trail in Docker mode, from what the credential proxy sees.

The agent in the container reports nothing we could trust; the proxy sees every LLM exchange.
Before a request goes upstream, `admit` reserves its worst case (input estimated from its bytes,
output from its own `max_tokens`: `credproxy.usage.estimate_request`) and counts it as a step; a
request the budgets cannot cover on top of what is spent and reserved is refused. The exchange's
end settles the reservation: a complete response is charged the usage it reports; one cut short
(the client hung up, the upstream failed) is charged its input (as reported, else the estimate)
plus its whole output reservation, so hanging up is never cheaper than reading to the end; an
exchange that failed with no usage is charged its reservation. Costs follow in a worker thread
(litellm's price map costs seconds to import and must not stall the proxy). Once any budget is
used up, `refusal()` names it: the proxy answers 403 and the supervisor stops the container.

Every refusal, kill, cut and upstream error becomes an audit record (redacted: path and reason
only, never a key, body or query); `summary()` gives the totals for the session's end record.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from appliance.chokepoint.redact import redact_text
from appliance.credproxy.events import TokenUsage
from appliance.credproxy.usage import estimate_request
from appliance.docker.reachability import Reachability
from appliance.session.budget import Budget, BudgetExceeded, BudgetLimits

__all__ = ["UsageMeter"]

# "package": every package-registry exchange (what passed, what the age gate took out of a
# listing, a registry failure): audited, never charged.
_AUDITED = frozenset({"denied", "killed", "error", "cut", "package"})


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
        self._reserved: dict[str, tuple[int, int, str | None]] = {}  # flow: (input, output, model)
        self._settled: set[str] = set()
        self._audit: Any = None
        self._pending: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._costs: queue.Queue[Any] = queue.Queue()
        self._worker = threading.Thread(target=self._cost_loop, name="usage-cost", daemon=True)
        self._worker.start()
        self.exhausted = threading.Event()
        self.reachability = Reachability()

    def attach_audit(self, audit: Any) -> None:
        """Where proxy records go from now on (anything with `append(dict)`); earlier ones too."""
        with self._lock:
            self._audit, pending, self._pending = audit, self._pending, []
        for record in pending:
            self._write(record)

    def admit(self, flow_id: str, body: bytes) -> str | None:
        """The proxy asks before a request goes upstream: None (reserved, one step counted) or
        the reason it is refused."""
        input_tokens, output_tokens = estimate_request(body)
        with self._lock:
            if self._exhausted is not None:
                return self._exhausted
            limits, spent = self.budget.limits, self.budget
            if limits.max_steps is not None and spent.steps >= limits.max_steps:
                return f"the steps budget is used up ({spent.steps} of {limits.max_steps})"
            held = sum(i + o for i, o, _ in self._reserved.values())
            want = input_tokens + output_tokens
            if limits.max_total_tokens is not None and (
                spent.tokens + held + want > limits.max_total_tokens
            ):
                return (f"the tokens budget cannot cover this request: {spent.tokens} used, "
                        f"{held} reserved by requests in flight, this one may use {want}, "
                        f"limit {limits.max_total_tokens}")  # fmt: skip
            self._reserved[flow_id] = (input_tokens, output_tokens, None)
            self.budget.add_step()
        self.check()
        return None

    def on_event(self, event: Any) -> None:
        """The proxy's callback (its thread). Raises only when the audit log cannot be written
        (then the proxy kills the request, and the session stops)."""
        self._counts[event.kind if event.rule is None else f"{event.kind}:{event.rule}"] += 1
        if event.kind == "forwarded":
            with self._lock:
                if event.flow_id not in self._reserved:  # admitted without a reservation
                    self.budget.add_step()
        elif event.kind == "usage":
            self._settle(event.flow_id, event.usage, complete=True)
        elif event.kind in ("cut", "error", "killed"):
            self._settle(event.flow_id, event.usage, complete=False)
        elif event.kind == "denied":
            with self._lock:
                self._reserved.pop(event.flow_id, None)
        if event.kind in _AUDITED:
            self._record(event)
        self.reachability.on_event(event)  # the supervisor polls `reachability.failed`
        self.check()

    def _settle(self, flow_id: str, usage: TokenUsage | None, *, complete: bool) -> None:
        with self._lock:
            reservation = self._reserved.pop(flow_id, None)
            if not complete and flow_id in self._settled:
                return  # a flow ends once: a kill and the cut it causes are charged once
            self._settled.add(flow_id)
        if complete or reservation is None:
            charged = usage
        else:  # cut or failed: input as reported (else estimated), output as reserved
            input_tokens = usage.input_tokens if usage is not None and usage.input_tokens else 0
            cached = (
                0
                if usage is None
                else (usage.cache_creation_input_tokens + usage.cache_read_input_tokens)
            )
            model = usage.model if usage is not None else None
            charged = TokenUsage(
                input_tokens=(input_tokens or reservation[0]), output_tokens=reservation[1],
                cache_read_input_tokens=cached, model=model,
            )  # fmt: skip
        if charged is None:
            return
        with self._lock:
            self.budget.add_usage(charged.total_tokens, 0.0)
        self._costs.put(charged)

    def _record(self, event: Any) -> None:
        record = {
            "type": "proxy",
            "event": event.kind,
            "rule": event.rule,
            "provider": event.provider,
            "host": redact_text(event.host)[:200],
            "method": redact_text(event.method)[:20],
            "path": redact_text(event.path)[:300],
            "status": event.status,
            "reason": redact_text(event.reason)[:300],
        }
        with self._lock:
            if self._audit is None:
                self._pending.append(record)
                return
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self._audit.append(record)
        except Exception:
            with self._lock:
                self._exhausted = self._exhausted or "the audit log could not be written"
                self.exhausted.set()
            raise

    def summary(self) -> dict[str, Any]:
        """Totals for the session's end: events by kind and rule, and the budgets' usage."""
        with self._lock:
            return {
                "type": "proxy-summary",
                "events": dict(sorted(self._counts.items())),
                "inFlight": len(self._reserved),
                "usage": self.budget.describe(),
            }

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
