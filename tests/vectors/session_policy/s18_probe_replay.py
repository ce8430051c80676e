"""Replay the s18 probe files (``s18_probe_*.json``, each naming its policy folder under
``policy``) and print which scenarios the engine decides as expected. A FAIL is an attack
allowed: the expected decision is what the engine should reach.

    uv run python tests/vectors/session_policy/s18_probe_replay.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from appliance.cli.policy_cmd import _protected_for
from policy.loader import load_policy
from policy.scenarios import load_scenarios, replay

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def main(files: list[str]) -> int:
    failed = 0
    for name in files or sorted(str(p) for p in HERE.glob("s18_probe_*.json")):
        raw = json.loads(Path(name).read_text(encoding="utf-8"))
        policy = load_policy(ROOT / raw["policy"])
        print(f"== {Path(name).name}")
        for result in replay(load_scenarios(name), policy, _protected_for):
            got = result.decision
            want = result.scenario.expected_decision
            mark = "PASS " if result.passed else "FAIL*"
            failed += not result.passed
            print(
                f"{mark} got {got.decision} ({got.rule}), want {want}: "
                f"{result.scenario.description[:120]}"
            )
    print(f"{failed} scenario(s) decided otherwise than expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
