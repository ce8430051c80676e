"""The declared-role defaults shipped as data (``policy/declared_roles.json``).

Kept apart from ``models`` so the file is read once, with no import cycle, and so the data
(not code) says which extra roles exist and how each is judged.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DECLARED_ROLES_FILE", "default_declared_roles"]

DECLARED_ROLES_FILE = Path(__file__).resolve().parent / "declared_roles.json"
_KINDS = frozenset({"path", "url", "identifier", "number", "text", "opaque"})


@cache
def default_declared_roles() -> dict[str, dict[str, Any]]:
    """role name -> its definition (``kind`` always present); a malformed file fails loudly."""
    data = json.loads(DECLARED_ROLES_FILE.read_text(encoding="utf-8"))
    roles = data["roles"]
    for name, spec in roles.items():
        if spec.get("kind") not in _KINDS:
            raise ValueError(f"{DECLARED_ROLES_FILE}: roles.{name}.kind: one of {sorted(_KINDS)}")
    return roles
