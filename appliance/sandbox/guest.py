"""The installation's sandbox, ready to run: the guest checked (and, in a source checkout,
built first when missing or older than its sources), then loaded.

Apart from ``appliance.agent.code_session`` (which imports it only when a session loads its
sandbox), so that ``ironcurtain exec`` loads the sandbox without the agent, budget and terminal
modules.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from appliance.sandbox.sandbox import Sandbox

__all__ = ["guest_sources_current", "make_sandbox"]


def make_sandbox(err: TextIO = sys.stderr) -> Sandbox:
    """The sandbox with the guest this installation ships; in a source checkout the guest is
    built first when it is missing or older than its sources (a fresh clone's first run)."""
    from appliance.sandbox import Sandbox

    if not getattr(sys, "frozen", False) and not os.environ.get("IRONCURTAIN_GUEST_WASM"):
        from wasm_guest import build

        if not _guest_current(build):
            print("building the sandbox guest (once; about a minute)…", file=err, flush=True)
            build.ensure_built()
    return Sandbox()


def _guest_current(build: ModuleType) -> bool:
    """``build.is_current()`` without re-reading the 17 MB guest on every start (~25 ms).

    The sources are still hashed (small); the guest's digest comes from the sandbox's
    ``guest_sha256``, which believes the build's lock only while it still describes the file:
    same size, and the lock written after the guest's inode last changed (ctime: the kernel sets
    it on every write, truncate, chmod or rename onto the name, and only root can set it back).
    A guest changed after its lock was written therefore fails the check and is hashed in full,
    exactly as before. The lock sits beside the guest, so whoever could forge it could replace
    the guest itself: the shortcut trusts nothing the full hash did not already trust.
    """
    from appliance.sandbox.engine import guest_sha256

    wasm, lock_path = build.DEFAULT_OUT / build.WASM_NAME, build.DEFAULT_OUT / build.LOCK_NAME
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        return (
            lock.get("source_sha256") == build.source_digest()
            and wasm.is_file()
            and lock.get("wasm_sha256") == guest_sha256(wasm)
        )
    except (OSError, ValueError, AttributeError):
        return False


def guest_sources_current(folder: Path) -> bool:
    """Whether the guest in ``folder`` was built from the current sources (a source checkout).

    The host's one door to ``wasm_guest.build`` at run time: the guest package itself is never
    imported by the host except through this module (tests/architecture/boundary_rules.py)."""
    from wasm_guest.build import is_current

    return is_current(folder)
