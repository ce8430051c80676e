"""The session audit log writer: append-only JSON lines, each sealed and chained to the last.

``sessions/<id>/audit.jsonl`` starts with a header line (format version, session id, the
settings, the settings that weaken the defaults, the policy digest, which key signs its
checkpoints). Every later line is one record: the caller's fields plus ``v``, ``type``, ``seq``,
``ts``, ``sessionId``, ``prev`` (the previous record's hash) and ``hash`` (its own, over its
content and ``prev``: ``seal.py``). A signed ``checkpoint`` record (``signing.py``) is written
every N records or T seconds, on a background thread so signing never delays a call, and at
``close(mark_end=True)`` after the ``end`` record, so a closed log is signed to its last byte.

Each record is written with one ``write`` and made durable before :meth:`AuditLog.append`
returns: by one direct write to the log's journal where the filesystem takes direct I/O
(``journal.py``: ~0.1 ms instead of a ~0.25 ms metadata commit), else by ``fdatasync`` (``fsync``
where there is none); concurrent appends share one sync (group commit). Any failure raises
:class:`AuditWriteError` and the log refuses further records: the chokepoint stops the session
rather than let a call go unrecorded. Logs of format 1 (before seals) are continued in format 1
when a session is resumed, so one file never mixes formats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.chokepoint.audit.journal import Journal, journal_path, recover
from appliance.chokepoint.audit.seal import SealError, encode, seal
from appliance.chokepoint.audit.signing import Signer, checkpoint_message
from appliance.errors import ApplianceError
from appliance.host.atomic import fsync_dir

__all__ = ["FORMAT_VERSION", "AuditLog", "AuditWriteError", "CheckpointEvery", "json_problem"]

FORMAT_VERSION = 2
_RESERVED = frozenset({"v", "seq", "ts", "sessionId", "prev", "hash"})
_INTERNAL_TYPES = frozenset({"header", "checkpoint"})

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class AuditWriteError(ApplianceError):
    """The audit log could not record an entry; the session must stop."""


@dataclass(frozen=True)
class CheckpointEvery:
    """How often a running session signs its chain head (whichever comes first)."""

    records: int = 100
    seconds: float = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _timestamp(clock: Clock) -> str:
    return clock().astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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


def _schedule(signer: Signer, every: CheckpointEvery) -> dict[str, Any]:
    return {"keyId": signer.key_id, "everyRecords": every.records, "everySeconds": every.seconds}


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return encode(record)
    except SealError as exc:
        raise AuditWriteError(str(exc)) from exc


class AuditLog:
    """One session's audit log, open for appending. Safe to use from several threads.

    ``observer`` (the OpenTelemetry export) is handed every record after it is durable; it must
    return at once and never raise (``export.py`` only puts the record on a bounded queue).
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        session_id: str,
        *,
        seq: int,
        prev: str,
        clock: Clock = _utc_now,
        version: int = FORMAT_VERSION,
        signer: Signer | None = None,
        every: CheckpointEvery = CheckpointEvery(),
        observer: Any = None,
        journal: Journal | None = None,
    ):
        self._path = path
        self._fd = fd
        self._journal = journal
        self._session_id = session_id
        self._seq = seq
        self._prev = prev
        self._clock = clock
        self._version = version
        self._signer = signer if version >= 2 else None
        self._every = every
        self._observer = observer
        self._lock = threading.Lock()  # guards seq, prev, the write and the broken flag
        self._sync_lock = threading.Lock()  # one data sync at a time; never taken inside _lock
        self._synced = seq  # every line up to this seq is durable
        self._broken: str | None = None
        self._signed_through = seq  # the last record a checkpoint covers
        self._last_checkpoint = -1  # seq of the last checkpoint record this writer wrote
        self._since_checkpoint = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # a resumed log's calls that went ahead with no completed record (verify.Dangling)
        self.dangling: tuple[Any, ...] = ()
        if self._signer is not None:
            self._thread = threading.Thread(target=self._checkpoints, name="audit-checkpoints")
            self._thread.daemon = True
            self._thread.start()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def version(self) -> int:
        return self._version

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
        signer: Signer | None = None,
        every: CheckpointEvery = CheckpointEvery(),
        observer: Any = None,
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
            "checkpoints": None if signer is None else _schedule(signer, every),
            "prev": None,
        }
        line, digest = seal(_encode(header))
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise AuditWriteError(f"cannot create audit log {path}: {exc.strerror or exc}") from exc
        try:
            _write_all(fd, line, path)
            getattr(os, "fdatasync", os.fsync)(fd)
            fsync_dir(path.parent)
        except (AuditWriteError, OSError) as exc:
            os.close(fd)
            raise AuditWriteError(f"cannot write audit log {path}: {exc}") from exc
        journal = _open_journal(path, fd)
        return cls(
            path, fd, session_id, seq=0, prev=digest, clock=clock, signer=signer, every=every,
            observer=observer, journal=journal,
        )  # fmt: skip

    @classmethod
    def open_existing(
        cls,
        path: Path,
        *,
        clock: Clock = _utc_now,
        signer: Signer | None = None,
        every: CheckpointEvery = CheckpointEvery(),
        observer: Any = None,
    ) -> AuditLog:
        """Continue a resumed session's log; refuses one that was edited or ends mid-line."""
        from appliance.chokepoint.audit.verify import Status, verify_file

        try:
            recovered = recover(path)
        except OSError as exc:
            raise AuditWriteError(f"cannot recover audit log {path}: {exc}") from exc
        if recovered:
            log.warning("audit log %s: %d record(s) recovered from its journal", path, recovered)
        result = verify_file(path)
        if result.status in (Status.EDITED, Status.EMPTY) or result.truncated:
            why = result.notes[0] if result.truncated else result.problem
            raise AuditWriteError(f"cannot continue audit log {path}: {why}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise AuditWriteError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc
        journal = _open_journal(path, fd)
        opened = cls(
            path, fd, result.session_id, seq=result.last_seq, prev=result.head_hash, clock=clock,
            version=result.version, signer=signer, every=every, observer=observer,
            journal=journal,
        )  # fmt: skip
        opened.dangling = result.dangling
        return opened

    def append(self, entry: dict[str, Any], *, durable: bool = True) -> dict[str, Any]:
        """Write one record durably and return it as written (with v, ts, seq, prev...). With
        ``durable=False`` the record is written at once (a killed process leaves it in the
        file) but made durable with the next durable append, a checkpoint or the close: for a
        call's record whose durable intent came before it (a power cut can lose it; the call
        then shows as of unknown outcome, never as missing)."""
        clash = _RESERVED.intersection(entry)
        if clash:
            raise ValueError(f"audit entry sets reserved field(s): {', '.join(sorted(clash))}")
        if entry.get("type") in _INTERNAL_TYPES:
            raise ValueError(f"audit entry cannot be of type {entry['type']!r}")
        record = self._append(entry, durable=durable)
        if self._observer is not None:
            self._observer.submit(record)
        if self._signer is not None:
            self._since_checkpoint += 1
            if self._since_checkpoint >= self._every.records:
                with self._wake:
                    self._wake.notify()
        return record

    def _append(self, entry: dict[str, Any], *, durable: bool = True) -> dict[str, Any]:
        with self._lock:
            if self._broken is not None:
                raise AuditWriteError(f"audit log {self._path} is unusable: {self._broken}")
            record = {
                "v": self._version,
                "type": entry.get("type", "call"),
                "seq": self._seq + 1,
                "ts": _timestamp(self._clock),
                "sessionId": self._session_id,
                **{k: v for k, v in entry.items() if k != "type"},
                "prev": self._prev,
            }
            body = _encode(record)
            if self._version >= 2:
                line, digest = seal(body)
                record["hash"] = digest
            else:  # format 1: the next record's prev is the hash of this line's bytes
                line, digest = body, hashlib.sha256(body).hexdigest()
            self._write(line, record["seq"], digest)
        if durable:
            self._sync_through(record["seq"])
        return record

    def checkpoint(self, extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Sign the current chain head and append the checkpoint; None when nothing is new
        since the last one or there is no signer. Signing happens outside the write lock."""
        if self._signer is None:
            return None
        with self._lock:
            head_seq, head_hash = self._seq, self._prev
        if head_seq <= self._signed_through or head_seq == self._last_checkpoint:
            return None  # nothing but our own checkpoint since the last one
        ts = _timestamp(self._clock)
        message = checkpoint_message(self._session_id, head_seq, head_hash, ts)
        entry = {
            "type": "checkpoint",
            "head": {"seq": head_seq, "hash": head_hash, "ts": ts},
            "keyId": self._signer.key_id,
            "signature": self._signer.sign(message),
            **(extra or {}),
        }
        record = self._append(entry)
        self._signed_through, self._last_checkpoint = head_seq, record["seq"]
        self._since_checkpoint = 0
        return record

    def _checkpoints(self) -> None:
        """Background thread: a checkpoint every N records or T seconds, whichever is first."""
        deadline = time.monotonic() + self._every.seconds
        while True:
            with self._wake:
                if not self._stopping:
                    self._wake.wait(max(0.0, deadline - time.monotonic()))
                if self._stopping:
                    return
            due = time.monotonic() >= deadline or self._since_checkpoint >= self._every.records
            if not due:
                continue
            deadline = time.monotonic() + self._every.seconds
            try:
                self.checkpoint(self._export_stats())
            except AuditWriteError:
                log.warning("audit checkpoint could not be written", exc_info=True)
                return  # the next call's append raises and stops the session

    def _export_stats(self) -> dict[str, Any]:
        stats = getattr(self._observer, "stats", None)
        return {"export": stats()} if callable(stats) else {}

    def close(self, *, mark_end: bool = False) -> None:
        """Close the file (idempotent); with ``mark_end``, first write an ``end`` record and
        sign it, so ``verify`` can tell the log is complete (not cut) and unchanged."""
        with self._lock:
            if self._fd < 0:
                return
        self._stop_checkpoints()
        if self._observer is not None:
            self._observer.close()  # bounded wait; what it could not send counts as dropped
        try:
            if mark_end and self._broken is None:
                self.append({"type": "end", "entries": self._seq, **self._export_stats()})
                self.checkpoint()
        finally:
            with self._sync_lock, self._lock:
                if self._fd >= 0:
                    self._close_files()
                self._fd = -1
                self._broken = self._broken or "closed"

    def _close_files(self) -> None:
        """Caller holds both locks. The journal goes only once the log itself is durable: a
        log that could not be synced keeps it, for :func:`recover`."""
        journal, self._journal = self._journal, None
        try:
            if journal is not None and self._broken is None:
                getattr(os, "fdatasync", os.fsync)(self._fd)
                journal.close(remove=True)
                journal = None
        except OSError as exc:
            log.warning("audit log %s: final sync failed (%s); journal kept", self._path, exc)
        finally:
            if journal is not None:
                journal.close(remove=False)
            os.close(self._fd)

    def _stop_checkpoints(self) -> None:
        if self._thread is None:
            return
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        self._thread = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, line: bytes, seq: int, digest: str) -> None:
        """Caller holds ``_lock``. One write() of the whole line; durability is _sync_through."""
        try:
            _write_all(self._fd, line, self._path)
        except AuditWriteError as exc:
            self._broken = str(exc)
            raise
        if self._journal is not None:
            self._journal.add(line + b"\n")
        self._seq = seq
        self._prev = digest

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
                journal = self._journal
                pending = journal.take() if journal is not None else None
                if journal is not None and pending is None:
                    journal.restart()  # full: the log is synced below, then it starts again
            try:
                if journal is not None and pending is not None:
                    journal.write(*pending)
                else:
                    # Looked up per call (not bound at import) so a test can make it fail.
                    getattr(os, "fdatasync", os.fsync)(self._fd)
            except OSError as exc:
                with self._lock:
                    self._broken = f"sync failed: {exc}"
                raise AuditWriteError(f"cannot sync audit log {self._path}: {exc}") from exc
            if journal is not None and pending is not None:
                with self._lock:
                    journal.written(pending[0], len(pending[1]))
            self._synced = through


def _open_journal(path: Path, fd: int) -> Journal | None:
    """The log's journal, or None where direct I/O is refused (then every append is
    fdatasync'd). Any other failure closes ``fd`` and raises: the session does not start."""
    try:
        return Journal.create(journal_path(path))
    except OSError as exc:
        os.close(fd)
        raise AuditWriteError(f"cannot create the journal of audit log {path}: {exc}") from exc


def _write_all(fd: int, line: bytes, path: Path) -> None:
    data = line + b"\n"
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write: {written} of {len(data)} bytes")
    except OSError as exc:
        raise AuditWriteError(f"cannot write audit log {path}: write failed: {exc}") from exc
