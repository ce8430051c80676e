"""The host's runner for one-shot tools (``git init`` for the demo's stand-in remote).

Only named runner modules start processes (``tests/architecture/boundary_rules.py`` lists them), so
that every place a process can come from is one grep away and reviewed: this one runs a fixed
argument vector, never a shell, with no terminal input, and raises on failure instead of
returning a status the caller could forget to check.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from appliance.errors import ApplianceError

__all__ = ["ToolFailed", "run_tool"]


class ToolFailed(ApplianceError, RuntimeError):
    """A one-shot tool exited non-zero or could not start; the message names the command."""


def run_tool(argv: Sequence[str], *, timeout: float = 60) -> str:
    """Run ``argv`` (no shell), wait at most ``timeout`` seconds, return its standard output."""
    try:
        done = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolFailed(f"{argv[0]}: could not run ({exc})") from exc
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ToolFailed(f"{' '.join(argv[:2])}: exit {done.returncode}: {detail[0]}")
    return done.stdout
