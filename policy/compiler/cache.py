"""Stage results stored by the SHA-256 of their inputs: a second run with the same inputs asks
no LLM, and a change to one server's tools invalidates only that server's entries.

Entries are plain JSON files named ``<stage>-<digest>.json``; a corrupt entry is a miss (it will
be recomputed and validated again), never an error and never trusted unvalidated.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from policy.compiler.errors import CompileError
from policy.models import PolicyError

T = TypeVar("T")

__all__ = ["StageCache", "constitution_digest", "digest_of"]

# Bumped whenever a prompt or an output schema changes: old answers must not be reused.
PROMPT_VERSION = "2"  # 2: declared roles, session-aware rules, sequences, hardening


def digest_of(*parts: Any) -> str:
    text = json.dumps([PROMPT_VERSION, *parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def constitution_digest(text: str) -> str:
    """What ``compiled-policy.json`` records as ``constitutionHash``: the constitution's text
    alone, in the form the first prompt version wrote (a new prompt version does not make a
    policy compiled from the same constitution look stale to ``doctor``)."""
    data = json.dumps(["1", text], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


class StageCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

    def _file(self, stage: str, key: str) -> Path:
        return self.folder / f"{stage}-{key}.json"

    def get(self, stage: str, key: str) -> Any | None:
        try:
            value = json.loads(self._file(stage, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def get_checked(self, stage: str, key: str, check: Callable[[Any], T]) -> T | None:
        """The entry as ``check`` reads it, or None. ``check`` parses and checks the entry as a
        fresh answer is checked (an entry is never trusted more); an entry it refuses is a miss,
        asked again."""
        cached = self.get(stage, key)
        if cached is None:
            return None
        try:
            return check(cached)
        except (CompileError, PolicyError, ValueError, TypeError, KeyError):
            self.hits -= 1
            self.misses += 1
            return None

    def put(self, stage: str, key: str, value: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
        os.replace(tmp, self._file(stage, key))
