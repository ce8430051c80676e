"""The session audit log: append-only JSON lines, each chained to the one before it.

``sessions/<id>/audit.jsonl`` starts with a header line (format version, session id, the
settings, the settings that weaken the defaults, the policy digest, ``"prev": null``). Every
later line is one record: the caller's fields plus ``v``, ``type``, ``seq``, ``ts``,
``sessionId`` and ``prev``, the SHA-256 (hex) of the previous line's exact bytes without its
newline. Editing, removing or reordering any line breaks the chain at the next line, and
:func:`verify_file` names where. Cutting whole lines off the end cannot be seen from the chain
alone; ``close(mark_end=True)`` writes an ``end`` record so that a log lacking one says so.

Each record is written with one ``write`` and made durable (``fdatasync``, which also flushes
the file's new size; ``fsync`` where there is no ``fdatasync``) before :meth:`AuditLog.append`
returns; concurrent appends share one sync (group commit). Any failure raises
:class:`AuditWriteError` and the log refuses further records: the chokepoint stops the session
rather than let a call go unrecorded. A writer killed mid-write
leaves at most one incomplete last line, which :func:`verify_file` reports as such (distinct
from tampering) while everything before it still verifies.

Lines are ASCII JSON (``ensure_ascii``), so terminal escape sequences an agent puts in its
arguments are stored as ``\\u001b`` and never reach a terminal that ``cat``s the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "AuditLog", "AuditWriteError", "VerifyResult", "verify_file"]

FORMAT_VERSION = 1
_RESERVED = frozenset({"v", "seq", "ts", "sessionId", "prev"})

Clock = Callable[[], datetime]


class AuditWriteError(Exception):
    """The audit log could not record an entry; the session must stop."""


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_file` found. ``entries`` counts intact records after the header."""

    ok: bool
    entries: int
    first_bad_line: int | None = None
    problem: str | None = None
    truncated: bool = False  # the only problem is an incomplete last line (a killed writer)
    ended: bool = False  # the last record is the ``end`` record of ``close(mark_end=True)``


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _timestamp(clock: Clock) -> str:
    return clock().astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _encode(record: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise AuditWriteError(f"audit entry is not plain JSON data: {exc}") from exc
    return text.encode("ascii")


def json_problem(value: Any) -> str | None:
    """Why ``value`` could not be written to the audit log (or sent as standard JSON), or None.
    The chokepoint asks this before a call can reach a server: audit before effect."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError:
        return "nested too deeply"
    except (TypeError, ValueError) as exc:  # NaN/Infinity, non-JSON types, lone surrogates
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return None


class AuditLog:
    """One session's audit log, open for appending. Safe to use from several threads."""

    def __init__(self, path: Path, fd: int, session_id: str, seq: int, prev: str, clock: Clock):
        self._path = path
        self._fd = fd
        self._session_id = session_id
        self._seq = seq
        self._prev = prev
        self._clock = clock
        self._lock = threading.Lock()  # guards seq, prev, the write and the broken flag
        self._sync_lock = threading.Lock()  # one data sync at a time; never taken inside _lock
        self._synced = seq  # every line up to this seq is durable
        self._broken: str | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def session_id(self) -> str:
        return self._session_id

    @classmethod
    def create(
        cls,
        path: Path,
        session_id: str,
        settings: dict[str, Any],
        weakening: list[str],
        policy_digest: str,
        *,
        clock: Clock = _utc_now,
    ) -> AuditLog:
        """Start a new log at ``path`` (which must not exist) with its header line."""
        header = {
            "type": "header",
            "v": FORMAT_VERSION,
            "seq": 0,
            "ts": _timestamp(clock),
            "sessionId": session_id,
            "settings": settings,
            "weakening": list(weakening),
            "policyDigest": policy_digest,
            "prev": None,
        }
        line = _encode(header)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise AuditWriteError(f"cannot create audit log {path}: {exc.strerror or exc}") from exc
        log = cls(path, fd, session_id, -1, "", clock)
        try:
            with log._lock:
                log._write(line, 0)
            log._sync_through(0)
            _fsync_dir(path.parent)
        except AuditWriteError:
            os.close(fd)
            raise
        return log

    @classmethod
    def open_existing(cls, path: Path, *, clock: Clock = _utc_now) -> AuditLog:
        """Continue a resumed session's log; refuses one whose chain does not verify."""
        result = verify_file(path)
        if not result.ok:
            raise AuditWriteError(f"cannot continue audit log {path}: {result.problem}")
        data = path.read_bytes()
        lines = data.split(b"\n")[:-1]
        header = json.loads(lines[0])
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise AuditWriteError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc
        return cls(path, fd, header["sessionId"], len(lines) - 1, _line_hash(lines[-1]), clock)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write one record durably and return it as written (with v, ts, seq, prev...)."""
        clash = _RESERVED.intersection(entry)
        if clash:
            raise ValueError(f"audit entry sets reserved field(s): {', '.join(sorted(clash))}")
        if entry.get("type") == "header":
            raise ValueError("audit entry cannot be of type 'header'")
        with self._lock:
            if self._broken is not None:
                raise AuditWriteError(f"audit log {self._path} is unusable: {self._broken}")
            record = {
                "v": FORMAT_VERSION,
                "type": entry.get("type", "call"),
                "seq": self._seq + 1,
                "ts": _timestamp(self._clock),
                "sessionId": self._session_id,
                **{k: v for k, v in entry.items() if k != "type"},
                "prev": self._prev,
            }
            self._write(_encode(record), record["seq"])
        self._sync_through(record["seq"])
        return record

    def close(self, *, mark_end: bool = False) -> None:
        """Close the file (idempotent); with ``mark_end``, first write an ``end`` record.

        The end record makes a log whose tail was cut off at a line boundary recognisable.
        It is opt-in because readers that count records expect only calls.
        """
        with self._lock:
            if self._fd < 0:
                return
        try:
            if mark_end and self._broken is None:
                self.append({"type": "end", "entries": self._seq})
        finally:
            with self._sync_lock, self._lock:
                if self._fd >= 0:
                    os.close(self._fd)
                self._fd = -1
                self._broken = self._broken or "closed"

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, line: bytes, seq: int) -> None:
        """Caller holds ``_lock``. One write() of the whole line; durability is _sync_through."""
        data = line + b"\n"
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
        except OSError as exc:
            self._broken = f"write failed: {exc}"
            raise AuditWriteError(f"cannot write audit log {self._path}: {exc}") from exc
        self._seq = seq
        self._prev = _line_hash(line)

    def _sync_through(self, seq: int) -> None:
        """Return once line ``seq`` is on disk (group commit).

        Concurrent calls share a sync: whoever gets the sync lock first syncs every line written
        so far, and callers whose line it covered return without syncing again.
        """
        with self._sync_lock:
            if self._synced >= seq:
                return
            with self._lock:
                if self._broken is not None:
                    raise AuditWriteError(f"audit log {self._path} is unusable: {self._broken}")
                through = self._seq  # written before the sync starts, so covered by it
            try:
                # Looked up per call (not bound at import) so a test can make it fail.
                getattr(os, "fdatasync", os.fsync)(self._fd)
            except OSError as exc:
                with self._lock:
                    self._broken = f"sync failed: {exc}"
                raise AuditWriteError(f"cannot sync audit log {self._path}: {exc}") from exc
            self._synced = through


def _fsync_dir(directory: Path) -> None:
    """Make the new file's directory entry durable too."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise AuditWriteError(f"cannot open {directory}: {exc.strerror or exc}") from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise AuditWriteError(f"cannot sync {directory}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def verify_file(path: Path) -> VerifyResult:
    """Check a log line by line: JSON, header first, seq order, session id, hash chain.

    Raises ``FileNotFoundError`` for a missing file (the caller reports it differently).
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, as every complete log does
    if not lines and not tail:
        return VerifyResult(False, 0, 1, "line 1: the file is empty (no header)")
    entries, prev, session_id, ended = 0, None, None, False
    for number, line in enumerate(lines, start=1):
        problem, record = _check_line(number, line, prev, session_id)
        if problem:
            return VerifyResult(False, entries, number, problem)
        if number == 1:
            session_id = record["sessionId"]
        else:
            entries += 1
        ended = record.get("type") == "end"
        prev = _line_hash(line)
    if tail:
        number = len(lines) + 1
        problem = (
            f"line {number}: incomplete last line ({len(tail)} bytes, no newline): the writer "
            f"was probably killed mid-write; the {entries} entries before it are intact"
        )
        return VerifyResult(False, entries, number, problem, truncated=True)
    return VerifyResult(True, entries, ended=ended)


def _check_line(
    number: int, line: bytes, prev: str | None, session_id: str | None
) -> tuple[str | None, dict[str, Any]]:
    try:
        record = json.loads(line)
    except ValueError:
        return f"line {number}: not valid JSON", {}
    if not isinstance(record, dict):
        return f"line {number}: not a JSON object", {}
    if number == 1:
        if record.get("type") != "header" or record.get("prev", "") is not None:
            return "line 1: not a log header (the header line was changed or removed)", record
        if not isinstance(record.get("sessionId"), str):
            return "line 1: header has no sessionId", record
    elif record.get("prev") != prev:
        return (
            f"line {number}: hash chain broken: its prev does not match line {number - 1} "
            f"(line {number - 1} was edited, or lines were removed or reordered)",
            record,
        )
    elif record.get("type") == "header":
        return f"line {number}: a second header inside the log", record
    if record.get("v") != FORMAT_VERSION:
        return f"line {number}: unknown format version {record.get('v')!r}", record
    if record.get("seq") != number - 1:
        return f"line {number}: seq is {record.get('seq')!r}, expected {number - 1}", record
    if session_id is not None and record.get("sessionId") != session_id:
        return f"line {number}: sessionId {record.get('sessionId')!r} is not the header's", record
    return None, record
