"""The systemd user unit that runs ``ironcurtain daemon`` at login.

The unit runs the same executable that wrote it (the frozen appliance, or this interpreter with
``-m appliance.cli``), so no PATH lookup decides what runs. It passes no secret: the daemon
holds none (no provider key; the console token is in its own 0600 file, and the daemon prints
it only to a terminal, never into the journal).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from appliance.host.atomic import write_text_atomic

__all__ = ["UNIT_NAME", "install_unit", "unit_text"]

UNIT_NAME = "ironcurtain-daemon.service"


def _command(port: int, host: str) -> list[str]:
    # -P: never the working folder on sys.path (see server_pool.self_command)
    head = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-P", "-m"]
    if not getattr(sys, "frozen", False):
        head.append("appliance.cli")
    return [*head, "daemon", "--port", str(port), "--host", host]


def unit_text(port: int, host: str, home: Path) -> str:
    command = " ".join(shlex.quote(part) for part in _command(port, host))
    return (
        "[Unit]\nDescription=IronCurtain daemon (escalation channels, web console)\n\n"
        "[Service]\nType=simple\n"
        f"Environment=IRONCURTAIN_HOME={shlex.quote(str(home))}\n"
        f"ExecStart={command}\nRestart=on-failure\nNoNewPrivileges=yes\nPrivateTmp=yes\n\n"
        "[Install]\nWantedBy=default.target\n"
    )


def install_unit(port: int, host: str, home: Path, config_home: Path) -> Path:
    """Write the unit (atomically, 0644) under ``config_home/systemd/user``; return its path."""
    directory = config_home / "systemd" / "user"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / UNIT_NAME
    write_text_atomic(path, unit_text(port, host, home), mode=0o644)
    return path
