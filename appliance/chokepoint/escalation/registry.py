"""Which sessions are running, for the escalation listener; and the listener's own lock.

Each session writes ``<registry>/session-<id>.json`` (its id, pid and escalations folder) and
removes it when it closes. A session that was killed leaves its file behind, so readers check
the pid and clean up files of dead processes. The listener holds ``<registry>/listener.lock``
with ``flock`` (one listener at a time) and writes its pid into it, which lets a session's file
channel notice a listener that died while a question was open.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from appliance.host.processes import pid_alive

__all__ = [
    "ListenerLock",
    "Registration",
    "SessionEntry",
    "listener_pid",
    "live_sessions",
    "pid_alive",
    "register_session",
]

LOCK_NAME = "listener.lock"


class SessionEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    session_id: str
    pid: int
    escalations_dir: Path
    started: datetime


def _entry_path(registry_dir: Path, session_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in session_id)
    return registry_dir / f"session-{safe}.json"


class Registration:
    """A session's entry in the registry; removed by :meth:`close` or leaving a ``with``."""

    def __init__(self, path: Path, entry: SessionEntry) -> None:
        self.path = path
        self.entry = entry

    def close(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def register_session(
    registry_dir: Path, session_id: str, pid: int, escalations_dir: Path
) -> Registration:
    from appliance.chokepoint.escalation.files import write_atomic  # files imports this module

    registry_dir = Path(registry_dir)
    registry_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    entry = SessionEntry(
        session_id=session_id,
        pid=pid,
        escalations_dir=Path(escalations_dir).absolute(),
        started=datetime.now(UTC),
    )
    path = _entry_path(registry_dir, session_id)
    write_atomic(path, entry.model_dump_json())
    return Registration(path, entry)


def live_sessions(registry_dir: Path) -> list[SessionEntry]:
    """Sessions whose process is alive, oldest first; stale and unreadable entries are removed."""
    found: list[SessionEntry] = []
    for path in sorted(Path(registry_dir).glob("session-*.json")):
        try:
            entry = SessionEntry.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            continue  # the session closed while we looked
        except (OSError, ValidationError):
            path.unlink(missing_ok=True)
            continue
        if pid_alive(entry.pid):
            found.append(entry)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda e: e.started)


def listener_pid(registry_dir: Path) -> int | None:
    """The pid of the running escalation listener, or None when none is running."""
    try:
        text = (Path(registry_dir) / LOCK_NAME).read_text().strip()
    except OSError:
        return None
    pid = int(text) if text.isdigit() else 0
    return pid if pid_alive(pid) else None


class ListenerLock:
    """The listener's single-instance lock: ``flock``, which the OS releases when it dies."""

    def __init__(self, registry_dir: Path) -> None:
        self.path = Path(registry_dir) / LOCK_NAME
        self._fd = -1

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another listener does."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ListenerLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
