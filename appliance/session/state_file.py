"""``sessions/<id>/session.json``: what a session says of itself (id, task, state, pid, budget
use), for ``ironcurtain sessions``, the daemon's console and its Signal notices.

Only the session writes it, atomically, after every change; everyone else reads it and treats a
missing or unreadable file as saying nothing. One reader and one writer, here, so the three
readers cannot drift apart in how they parse it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.host.atomic import write_text_atomic

__all__ = ["read_state", "write_state"]


def read_state(session_dir: Path, max_bytes: int | None = None) -> dict[str, Any]:
    """The file's object, or {} when it is missing, unreadable, not JSON or not an object.
    ``max_bytes``: read at most that much (a reader that polls many sessions bounds its work)."""
    try:
        with (session_dir / "session.json").open("rb") as handle:
            data = json.loads(handle.read(-1 if max_bytes is None else max_bytes))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(session_dir: Path, **fields: Any) -> None:
    """Update the named fields (the others kept) and the ``updated`` time."""
    current = read_state(session_dir) or {
        "started": datetime.now(UTC).isoformat(timespec="seconds")
    }
    current.update(fields)
    current["updated"] = time.time()
    write_text_atomic(session_dir / "session.json", json.dumps(current, indent=2))
