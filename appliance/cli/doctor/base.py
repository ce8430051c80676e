"""What every check shares: the result type, the facts gathered once, and fixes spelled the way
this copy is run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appliance.config.paths import AppPaths

if TYPE_CHECKING:
    from appliance.config.models import Config

Status = Literal["ok", "warn", "fail", "skip"]


GROUP_TIMEOUT_S = 20.0


SERVER_START_TIMEOUT_S = 10.0


# Below this a session's audit log may fail to write, and a failed audit write stops the session.
MIN_FREE_BYTES = 200 * 2**20


LOW_FREE_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Check:
    name: str
    required: bool
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Facts:
    """What every check may read: gathered once, before the checks run."""

    paths: AppPaths
    config: Config  # the defaults when the file does not load
    config_error: str | None
    online: bool


def ok(name: str, detail: str, *, required: bool = True) -> Check:
    return Check(name, required, "ok", detail)


def warn(name: str, detail: str, fix: str, *, required: bool = False) -> Check:
    return Check(name, required, "warn", detail, as_installed(fix))


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, True, "fail", detail, as_installed(fix))


# A command in a fix: `ironcurtain SUBCOMMAND` or `python -m MODULE`, where a word starts.
_OUR_COMMAND = re.compile(r"(?<![\w/.-])(?:ironcurtain(?= [a-z])|python(?= -m ))")


def as_installed(fix: str) -> str:
    """A fix the user can paste as it is: its commands spelled the way this copy is run."""
    ironcurtain, python = invocation()
    return _OUR_COMMAND.sub(lambda m: ironcurtain if m[0] == "ironcurtain" else python, fix)


@functools.cache
def invocation() -> tuple[str, str]:
    """How this copy of the appliance is run, and how its Python is: a frozen build by its own
    path unless that is what PATH finds; a source checkout through uv (`uv run ironcurtain`, as
    the README says) unless its venv is active; an installed package as `ironcurtain`."""
    on_path = shutil.which("ironcurtain")
    found = Path(on_path).resolve() if on_path else None
    if getattr(sys, "frozen", False):
        me = Path(sys.executable).resolve()
        return ("ironcurtain" if found == me else str(me)), "python3"
    checkout = Path(__file__).resolve().parents[3]
    in_checkout = (checkout / "pyproject.toml").is_file() and (checkout / "uv.lock").is_file()
    # Started by `uv run` (which puts the venv on PATH for this process only), or the checkout's
    # command is not what PATH finds: the user's shell needs uv to reach it.
    through_uv = "UV_RUN_RECURSION_DEPTH" in os.environ
    if in_checkout and (through_uv or not (found and found.is_relative_to(checkout))):
        return "uv run ironcurtain", "uv run python"
    return "ironcurtain", "python"
