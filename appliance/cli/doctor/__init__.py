"""``ironcurtain doctor [--json] [--online] [--skip GROUP]``: check the installation, explain each
problem and say how to fix it.

Every check answers ok, warn or fail with a one-line fix. A check is *required* (a failure means a
session would not run, or would run less safely than the user believes) or *optional* (Docker
mode, the first-use caches). Optional checks only ever warn. Exit code 0 only when no required
check failed. A check that crashes fails: the doctor never reports ok for what it could not see.

Doctor only looks: it never compiles the guest, creates the CA or builds an image, and it talks
to a model only with ``--online`` (one tiny completion). Independent groups run concurrently.

One module per check family, each a ``check_*(facts) -> list[Check]``: ``runtime``, ``guest``,
``config``, ``policy``, ``servers``, ``confinement``, ``docker`` (with the CA), ``files``
(permissions and disk); ``base`` holds the result type and the facts, ``groups`` the registry
(``GROUPS``) and the concurrent runner. This package only looks; it may import any appliance
part it checks, lazily inside the check, so one broken part fails one group, not the command.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from appliance.cli.doctor.base import Check, Facts, as_installed, fail, invocation, ok, warn
from appliance.cli.doctor.config import check_config
from appliance.cli.doctor.groups import GROUPS, gather_facts, run_checks
from appliance.cli.doctor.servers import check_servers

__all__ = [
    "GROUPS",
    "Check",
    "Facts",
    "as_installed",
    "check_config",
    "check_servers",
    "configure",
    "fail",
    "gather_facts",
    "invocation",
    "ok",
    "run",
    "run_checks",
    "warn",
]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--online", action="store_true", help="also make one tiny call to the agent's model"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=sorted(GROUPS),
        metavar="GROUP",
        help=f"leave out a group of checks (repeatable): {', '.join(GROUPS)}",
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    checks = run_checks(gather_facts(online=args.online), frozenset(args.skip))
    healthy = not any(c.required and c.status == "fail" for c in checks)
    if args.json:
        payload = {
            "ok": healthy,
            "seconds": round(time.perf_counter() - started, 2),
            "checks": [asdict(c) for c in checks],
        }
        print(json.dumps(payload, indent=2))
    else:
        _print_human(checks, healthy, time.perf_counter() - started)
    return 0 if healthy else 1


def _print_human(checks: list[Check], healthy: bool, seconds: float) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        label = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}[c.status]
        kind = "required" if c.required else "optional"
        fix = f"  -> fix: {c.fix}" if c.fix and c.status in ("warn", "fail") else ""
        print(f"{label:<4}  {c.name:<{width}}  ({kind})  {c.detail}{fix}")
    failed = sum(c.required and c.status == "fail" for c in checks)
    verdict = "all required checks pass" if healthy else f"{failed} required check(s) FAILED"
    print(f"\n{verdict} ({seconds:.1f} s)")
