"""Resource budgets for a session: tokens, steps, wall-clock seconds and estimated cost.

A limit of ``None`` disables that budget. Usage is checked between steps and before each code
execution; crossing 80 % of any limit produces one warning; reaching a limit raises
:class:`BudgetExceeded`, which ends the agent's turn with a message naming the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.config.models import ResourceBudget
from appliance.errors import ApplianceError

__all__ = ["Budget", "BudgetExceeded", "BudgetLimits"]

WARN_FRACTION = 0.8


class BudgetExceeded(ApplianceError):
    pass


# One budget model: the config's own section. The session, Code Mode and Docker mode's meter all
# take it as it was validated (``config.resource_budget``); the name stays for callers.
BudgetLimits = ResourceBudget


@dataclass
class Budget:
    limits: ResourceBudget  # the configuration's own model: one budget model everywhere
    clock: Callable[[], float] = time.monotonic
    tokens: int = 0
    steps: int = 0
    cost_usd: float = 0.0
    started: float = field(default=-1.0)
    warned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def add_usage(self, tokens: int, cost_usd: float) -> None:
        self.tokens += max(0, tokens)
        self.cost_usd += max(0.0, cost_usd)

    def add_step(self) -> None:
        self.steps += 1

    def usage(self) -> dict[str, tuple[float, float | None]]:
        lim = self.limits
        return {
            "tokens": (self.tokens, lim.max_total_tokens),
            "steps": (self.steps, lim.max_steps),
            "seconds": (round(self.clock() - self.started, 1), lim.max_session_seconds),
            "cost_usd": (round(self.cost_usd, 4), lim.max_estimated_cost_usd),
        }

    def check(self) -> list[str]:
        """Raise if a budget is used up; return new 80 % warnings (each given once)."""
        warnings = []
        for name, (used, limit) in self.usage().items():
            if limit is None:
                continue
            if used >= limit:
                raise BudgetExceeded(f"the {name} budget is used up ({used} of {limit})")
            if used >= WARN_FRACTION * limit and name not in self.warned:
                self.warned.add(name)
                warnings.append(f"{name} budget at {used} of {limit} (80 % reached)")
        return warnings

    def snapshot(self) -> dict[str, list[float | None]]:
        """``{name: [used, limit]}``, for ``session.json`` (the daemon's console and its Signal
        notices read a running session's use from there)."""
        return {name: [used, limit] for name, (used, limit) in self.usage().items()}

    def describe(self) -> str:
        parts = []
        for name, (used, limit) in self.usage().items():
            bound = f" / {limit}" if limit is not None else " (no limit)"
            parts.append(f"{name}: {used}{bound}")
        return ", ".join(parts)
