"""Replacing a file so that a reader, or a crash, sees the old text or the new, never a mix.

The text goes to a private temporary file beside the target (created 0600, then given ``mode``),
is flushed and fsynced, and is renamed over the target; on any failure the temporary file is
removed and the target is untouched. The temporary name starts with a dot and ends in ``.tmp``,
so no glob for the real files (``request-*.json``, ``session-*.json``) ever matches it.

``append_json_line`` is the other durable write: one JSON record added to a log (JSON Lines) in
one write() on an ``O_APPEND`` descriptor (lines never interleave), fsynced before it returns.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["append_json_line", "fsync_dir", "write_text_atomic"]


def append_json_line(path: Path, record: dict[str, Any], *, sort_keys: bool = False) -> None:
    """Append ``record`` as one line to ``path`` (made 0600; never through a link)."""
    line = (json.dumps(record, sort_keys=sort_keys) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(
    path: Path, text: str, *, mode: int = 0o600, durable_rename: bool = False
) -> None:
    """Write ``text`` to ``path`` atomically; ``durable_rename`` also fsyncs the folder, so the
    rename itself survives a power cut (for files whose loss would cost the user work)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if durable_rename:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make the folder's entries (a file created, renamed or removed in it) durable."""
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
