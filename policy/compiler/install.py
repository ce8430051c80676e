"""Putting a verified policy in place: all files at once or none.

The new files are written into a staging folder next to the active one (a copy of it, so files
the compiler does not write survive), loaded back through the real loader, and only then swapped
in with one ``renameat2(RENAME_EXCHANGE)``: a reader sees the old folder or the new one, never a
mix and never nothing. Where the kernel or libc lacks it, two renames leave a window of
microseconds in which the folder is missing (the appliance then falls back to the shipped policy).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policy.compiler.errors import CompileError
from policy.loader import load_policy
from policy.models import PolicyError

__all__ = ["install_files"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def install_files(policy_dir: Path, files: Mapping[str, Any]) -> None:
    """Write ``files`` (name → JSON value) into ``policy_dir`` atomically, after a load check."""
    staging = policy_dir.parent / f".{policy_dir.name}.new-{uuid.uuid4().hex[:8]}"
    policy_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        if policy_dir.is_dir():
            shutil.copytree(policy_dir, staging, symlinks=True)
        else:
            staging.mkdir(mode=0o700)
        for name, value in files.items():
            text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
            (staging / name).write_text(text, encoding="utf-8")
        if (staging / "compiled-policy.json").exists():
            load_policy(staging)  # the engine's own loader must accept what we are about to install
        _swap(staging, policy_dir)
    except PolicyError as exc:
        raise CompileError("install", f"the new policy does not load: {exc}") from None
    except OSError as exc:
        raise CompileError("install", f"cannot write {policy_dir}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    """Afterwards ``target`` holds the new files and ``staging`` whatever was there before."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)  # put the previous policy back before reporting
        raise
    os.rename(old, staging)


def _exchange(a: Path, b: Path) -> bool:
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is None:
        return False
    result = func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0
