"""The frozen appliance's view of itself: where its bundled files are, what its children inherit.

A PyInstaller one-file executable unpacks its ~200 MB into a temporary folder at every start. The
bootloader marks the process with a few ``_PYI_*`` variables; a child started from the same
executable that sees them (and not ``PYINSTALLER_RESET_ENVIRONMENT``) runs from the parent's
folder instead of unpacking again. The servers are started with a minimal environment
(``server_pool.ServerSpec.environment``), so those variables must be passed on explicitly:
``child_environment()`` returns them, and nothing else (no secret lives in them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["BOOTLOADER_VARIABLES", "bundle_root", "child_environment", "is_frozen", "resource_path"]

# Read by PyInstaller 6.22's bootloader (pyi_main.c) to recognise a child of the same program.
BOOTLOADER_VARIABLES = (
    "_PYI_ARCHIVE_FILE",
    "_PYI_APPLICATION_HOME_DIR",
    "_PYI_PARENT_PROCESS_LEVEL",
)

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def bundle_root() -> Path:
    """The folder bundled data lives in: the unpacked bundle when frozen, else the source tree."""
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else _SOURCE_ROOT


def resource_path(relative: str) -> Path:
    """A bundled file by its path relative to the source tree (``policy/constitution.md``)."""
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ValueError(f"a bundled resource is named relative to the bundle, not {relative!r}")
    return bundle_root() / relative


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The bootloader variables a child of this frozen executable needs to reuse its folder.

    Empty when not frozen, so a source checkout's children never see stale values.
    """
    if not is_frozen():
        return {}
    env = os.environ if environ is None else environ
    return {name: env[name] for name in BOOTLOADER_VARIABLES if name in env}
