"""IronCurtain compatibility figures: the share of IronCurtain-format cases that load, the share
of decisions identical to IronCurtain's, and engine speed on the same calls.

Run: ``python tests/bench/bench_ironcurtain.py``. The cases are the corpus in
``tests/vectors/ironcurtain/`` (file shapes re-created as data; calls with the decision
IronCurtain's documented semantics give). Every remaining difference is printed with the reason
the corpus records for keeping it. Speed: decisions per second over the corpus calls, each
evaluated again and again under its case's context (as a session keeps one), against IronCurtain's
12,100 decisions/s (measured on its engine) times the 6.9x lead to keep. Nothing is asserted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure, load_average  # noqa: E402 -- after the path set-up above

from policy.engine import evaluate  # noqa: E402
from tests.compat.corpus import decisions, loads, replay_decisions, shapes  # noqa: E402

IRONCURTAIN_RATE = 12_100  # decisions/s, IronCurtain's engine on the same kind of calls
LEAD = 6.9


def main() -> None:
    print(f"load average: {load_average()}")
    cases = shapes()
    loaded = sum(loads(case) for case in cases)
    for case in cases:
        if not loads(case):
            print(f"  does not load: {case['description']}")
    figure(
        "IronCurtain-format shapes that load", 100 * loaded / len(cases), "%", 100, at_least=True
    )

    policy, replayed = replay_decisions()
    same = [r for r in replayed if r.same_as_ironcurtain]
    figure(
        f"decisions identical to IronCurtain's ({len(same)} of {len(replayed)})",
        100 * len(same) / len(replayed),
        "%",
        98,
        at_least=True,
    )
    for r in replayed:
        if not r.same_as_ironcurtain:
            why = r.case.get("deliberate") or "NOT LISTED AS DELIBERATE"
            print(
                f"  differs: {r.case['description']}: IronCurtain {r.case['ironcurtain']}, "
                f"here {r.decision.decision} ({r.decision.rule})\n    why: {why[:160]}"
            )
    defaults = [r for r in replayed if "context" not in r.case]
    same_default = sum(r.same_as_ironcurtain for r in defaults)
    print(f"  with default settings only: {same_default} of {len(defaults)} identical")

    data = decisions()
    calls = [(r.call, r.context) for r in replayed]  # one context per case, as a session has
    for call, ctx in calls:
        evaluate(call, policy, ctx)  # warm: rule folders and patterns resolved once per context
    # CPU time of this process: what a decision costs when the 2 cores are shared (wall-clock
    # rates here swing with the other engineers' load), as bench_policy reports it too.
    passes, total = 0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.process_time() - cpu < 3.0:
        for call, ctx in calls:
            evaluate(call, policy, ctx)
        passes += 1
        total += len(calls)
    rate = total / (time.process_time() - cpu)
    wall_rate = total / (time.perf_counter() - wall)
    print(f"  wall-clock rate under the current load: {wall_rate:,.0f}/s")
    print(f"  {passes} passes over {len(calls)} calls of {len(data['cases'])} cases")
    figure(
        "engine decisions per second on the corpus calls",
        rate,
        "/s",
        IRONCURTAIN_RATE * LEAD,
        at_least=True,
    )
    figure(
        "lead over IronCurtain's 12,100 decisions/s",
        rate / IRONCURTAIN_RATE,
        "x",
        LEAD,
        at_least=True,
    )


if __name__ == "__main__":
    main()
