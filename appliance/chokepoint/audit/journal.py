"""The audit log's journal: how a record is on stable storage in one device write.

Appending a line to ``audit.jsonl`` and ``fdatasync``-ing it makes the filesystem commit the
file's new size as well (a metadata journal commit: ~0.25 ms on the ext4 disks measured), for
every call. So each line also goes to ``audit.journal``, a file zero-filled to a fixed size when
the log is opened and written with ``O_DIRECT | O_DSYNC``: overwriting blocks that already exist
changes no metadata, so the write returns as soon as the data is on stable storage (~0.1 ms).
``audit.jsonl`` gets the same line with a plain ``write`` (in the page cache at once, so every
reader sees it and a killed process loses nothing) and is ``fdatasync``-ed whenever the journal
wraps (every ~2,000 records), when a record is too big for it, and when the log closes — after
which the journal is removed.

Only a machine that loses power (or its kernel) can leave ``audit.jsonl`` shorter than what was
acknowledged; :func:`recover` then appends the journal's lines that continue the log's hash
chain. Whatever else the journal holds — lines from before a wrap, zeros, a torn block — continues
nothing and is ignored. Where ``O_DIRECT`` is refused (tmpfs, macOS, some network filesystems)
there is no journal and every append is ``fdatasync``-ed as before.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import stat
from pathlib import Path
from typing import Any

from appliance.chokepoint.audit.seal import parse_strict, unseal
from appliance.host.atomic import fsync_dir

__all__ = ["BLOCK", "SIZE", "Journal", "journal_path", "recover"]

SIZE = 1 << 20  # zero-filled at open: ~2 ms here; one wrap per ~2,000 typical records
BLOCK = 4096  # O_DIRECT transfers are whole, aligned blocks (4096 covers 512-byte devices too)


def journal_path(log: Path) -> Path:
    return log.with_name(log.stem + ".journal")


class Journal:
    """Pending journal bytes and their O_DIRECT writes. Not thread-safe on its own: ``add``,
    ``take``, ``written`` and ``restart`` run under the log's lock, ``write`` under its sync
    lock (one at a time), as ``AuditLog`` does."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self._fd = fd
        self._size = size
        self._start = 0  # file offset of pending's first byte (block-aligned)
        self._pending = bytearray()  # bytes from _start to the end of the last line added
        self._staging = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT needs

    @classmethod
    def create(cls, path: Path, size: int | None = None) -> Journal | None:
        """A new zero-filled journal at ``path`` (replacing any) of ``size`` bytes (``SIZE``),
        or None where this filesystem refuses direct I/O. Raises ``OSError`` for anything else."""
        size = SIZE if size is None else size
        direct = getattr(os, "O_DIRECT", 0)
        if not direct or size % BLOCK:
            return None
        fd = _open_file(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            zeros = bytes(BLOCK * 64)
            for offset in range(0, size, len(zeros)):
                os.pwrite(fd, zeros[: min(len(zeros), size - offset)], offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
        try:
            fd = _open_file(path, os.O_WRONLY | direct | os.O_DSYNC)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            path.unlink(missing_ok=True)
            return None
        journal = cls(path, fd, size)
        try:
            journal.write(0, b"")  # one aligned block of zeros: does this filesystem take it?
        except OSError as exc:
            journal.close(remove=True)
            if exc.errno != errno.EINVAL:
                raise
            return None
        return journal

    def add(self, data: bytes) -> None:
        self._pending += data

    def take(self) -> tuple[int, bytes] | None:
        """What to write for everything added so far: (block-aligned offset, bytes), or None
        when it does not fit before the journal's end (the caller then syncs the log itself
        and calls :meth:`restart`)."""
        if self._start + len(self._pending) > self._size:
            return None
        return self._start, bytes(self._pending)

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (block-aligned), zeros to the end of its last block,
        and return once it is on stable storage (O_DSYNC). Raises ``OSError``."""
        length = max(BLOCK, -(-len(data) // BLOCK) * BLOCK)
        self._staging[: len(data)] = data
        self._staging[len(data) : length] = bytes(length - len(data))
        view = memoryview(self._staging)[:length]
        try:
            # Looked up per call (not bound at import) so a test can make it fail.
            done = os.pwritev(self._fd, [view], offset)
        finally:
            view.release()
        if done != length:
            raise OSError(errno.EIO, f"short journal write: {done} of {length} bytes")

    def written(self, offset: int, length: int) -> None:
        """``length`` bytes from ``offset`` are durable: keep only the last, partly filled block
        (it is written again, whole, with the next line)."""
        if offset != self._start:
            return  # restarted since: nothing of it is pending any more
        end = offset + length
        keep = end - end % BLOCK
        del self._pending[: keep - self._start]
        self._start = keep

    def restart(self) -> None:
        """Start again at the file's beginning (the log itself was just synced)."""
        self._start = 0
        self._pending.clear()

    def close(self, *, remove: bool) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._staging.close()
        if remove:
            self.path.unlink(missing_ok=True)
            fsync_dir(self.path.parent)


def _open_file(path: Path, flags: int) -> int:
    """``path`` opened as a regular file only: never through a symlink, never blocking on a
    FIFO, refused (``OSError``) when it is anything else."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    return fd


def recover(log: Path) -> int:
    """Append to ``log`` the journal's lines that continue its hash chain (after a power loss)
    and remove the journal; the number appended. A log that ends mid-line is cut back to its
    last whole line only when the journal holds the line that follows it. Raises ``OSError``."""
    path = journal_path(log)
    try:
        fd = _open_file(path, os.O_RDONLY)  # a planted symlink or FIFO is refused
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, "rb") as handle:
        journal = handle.read(SIZE * 4)  # never more than a journal holds
    data = log.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    head = _head(whole)
    added: list[bytes] = []
    if head is not None:
        lines = {}
        for line in journal.replace(b"\0", b"\n").split(b"\n"):
            link = _link(line)
            if link is not None:
                lines.setdefault((link[0], link[1]), (line, link[2]))
        seq, digest = head
        while (seq + 1, digest) in lines:
            line, digest = lines[(seq + 1, digest)]
            added.append(line)
            seq += 1
    if added:
        with open(log, "r+b") as out:
            out.truncate(len(whole))
            out.seek(len(whole))
            out.write(b"".join(line + b"\n" for line in added))
            out.flush()
            os.fsync(out.fileno())
    path.unlink()
    fsync_dir(log.parent)
    return len(added)


def _head(whole: bytes) -> tuple[int, str] | None:
    """(seq, hash) of the log's last whole line; None when it has none that parses."""
    lines = whole.split(b"\n")[:-1]
    sealed = _sealed(lines[-1]) if lines else None
    return None if sealed is None else (sealed[0]["seq"], sealed[1])


def _link(line: bytes) -> tuple[int, str, str] | None:
    """(seq, prev, own hash) of a journal line that is a whole, intact record, else None."""
    sealed = _sealed(line)
    if sealed is None or not isinstance(sealed[0].get("prev"), str):
        return None
    return sealed[0]["seq"], sealed[0]["prev"], sealed[1]


def _sealed(line: bytes) -> tuple[dict[str, Any], str] | None:
    """A whole, intact record line: (the record, its hash — its seal, or in format 1 the hash
    of its bytes, which the next record's ``prev`` names), else None."""
    if not line.startswith(b"{"):
        return None
    try:
        record = parse_strict(line)
    except (ValueError, RecursionError):
        return None
    seq = record.get("seq") if isinstance(record, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    if record.get("v") == 1:
        return record, hashlib.sha256(line).hexdigest()
    digest, problem = unseal(line)
    return None if problem else (record, digest)
