"""Is a process still alive? One answer for the session list, the escalation registry and
Docker mode's stale-container sweep, so a crashed session looks crashed to all three."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["pid_alive"]


def pid_alive(pid: object) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) counts as dead.

    Anything but a positive int is "not alive": 0 and -1 would signal our own process group or
    every process we may signal, and a boolean is not a process id.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
