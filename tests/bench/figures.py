"""One way for every bench to state a figure beside its target, for people and for
``run_all.py``: a readable line, and a ``BENCH-FIGURE {json}`` line the runner collects.

    figure("chokepoint overhead, median", 0.21, "ms", target=0.35)
    ->  chokepoint overhead, median: 0.210 ms (target <= 0.35 ms: met)

Targets are upper bounds unless ``at_least`` is set. Figures are measured, never asserted.
"""

from __future__ import annotations

import json
import os

__all__ = ["MARKER", "figure", "load_average", "verdict"]

MARKER = "BENCH-FIGURE "


def verdict(value: float, target: float | None, at_least: bool = False) -> str:
    if target is None:
        return "info"
    return "met" if (value >= target if at_least else value <= target) else "missed"


def figure(
    name: str, value: float, unit: str, target: float | None = None, *, at_least: bool = False
) -> None:
    goal = "no target"
    if target is not None:
        bound = ">=" if at_least else "<="
        goal = f"target {bound} {target:g} {unit}: {verdict(value, target, at_least)}"
    print(f"{name}: {value:.3f} {unit} ({goal})")
    record = {"name": name, "value": value, "unit": unit, "target": target, "at_least": at_least}
    print(MARKER + json.dumps(record), flush=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
