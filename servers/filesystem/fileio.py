"""Opening, reading and atomically writing the files a Location names, with every refusal.

Reads open only regular files: the entry is first opened with ``O_PATH|O_NOFOLLOW`` (which never
triggers a FIFO, socket or device), checked with ``fstat``, then reopened for reading through
``/proc/self/fd`` so the checked inode is the read one. Without /proc the fallback opens with
``O_NONBLOCK`` (a FIFO never hangs) and checks afterwards. Every read is bounded by a byte cap;
``head``/``tail`` read in fixed blocks from the start or from the end, so a huge file with no
newline costs at most the cap.

Writes go to a fresh temp file in the same directory (created ``O_EXCL|O_NOFOLLOW`` through the
directory fd), fsynced, then renamed over the name: readers never see half a file, and the old
inode (maybe another hard link's) is never changed. The old file's mode (minus setuid/setgid)
and owner are kept; a read-only file or directory is refused, also when running as root. A write
the client cancels (``servers.wire.cancel``) stops within a chunk of 1 MiB, before the rename:
the temp file is removed and the file stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass

from servers.filesystem.resolve import Location, shown
from servers.wire.cancel import checkpoint
from servers.wire.server import ToolError

__all__ = [
    "Limits",
    "TooLarge",
    "check_writable",
    "decode_text",
    "line_ending",
    "open_regular",
    "read_all",
    "read_head",
    "read_tail",
    "write_atomic",
]

_BLOCK = 64 * 1024
_WRITE_CHUNK = 1024 * 1024
_HAS_PROC_FD = os.path.isdir("/proc/self/fd")
_O_PATH = getattr(os, "O_PATH", 0)


class TooLarge(ToolError):
    """A read that would pass the byte cap."""


@dataclass(frozen=True)
class Limits:
    max_read_bytes: int
    allow_hardlinks: bool
    umask: int


def open_regular(loc: Location, limits: Limits) -> tuple[int, os.stat_result]:
    """An fd open for reading on the regular file at ``loc``, and its stat; refuse anything else."""
    if loc.name is None:
        raise ToolError(f"{shown(loc.path)}: is a directory")
    if loc.lstat is None:
        raise ToolError(f"{shown(loc.path)}: no such file")
    _check_readable(loc.path, loc.lstat, limits)
    if _HAS_PROC_FD and _O_PATH:
        handle = os.open(loc.name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=loc.dir_fd)
        try:
            _check_readable(loc.path, os.fstat(handle), limits)
            fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
        finally:
            os.close(handle)
    else:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        fd = os.open(loc.name, flags, dir_fd=loc.dir_fd)
    st = os.fstat(fd)
    try:
        _check_readable(loc.path, st, limits)
    except ToolError:
        os.close(fd)
        raise
    return fd, st


def _check_readable(path: str, st: os.stat_result, limits: Limits) -> None:
    _check_regular(path, st)
    if st.st_nlink > 1 and not limits.allow_hardlinks:
        raise ToolError(
            f"{shown(path)}: refused, the file has {st.st_nlink} hard links and may be "
            "reachable from outside the allowed directories"
        )


def _check_regular(path: str, st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{shown(path)}: is a directory")
    if stat.S_ISLNK(st.st_mode):
        raise ToolError(f"{shown(path)}: is a symbolic link (it changed during the call)")
    raise ToolError(f"{shown(path)}: refused, not a regular file (FIFO, socket or device)")


def read_all(fd: int, path: str, cap: int) -> bytes:
    """The whole file, or a clear error if it is larger than ``cap`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while total <= cap:
        chunk = os.read(fd, min(1024 * 1024, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    raise TooLarge(
        f"{shown(path)}: larger than the {cap}-byte read limit; read part of it with head or tail"
    )


def read_head(fd: int, lines: int, cap: int) -> tuple[bytes, bool]:
    """The first ``lines`` lines (newlines kept), at most ``cap`` bytes; and whether it was cut."""
    data = bytearray()
    seen = 0
    while seen < lines and len(data) < cap:
        chunk = os.read(fd, min(_BLOCK, cap - len(data)))
        if not chunk:
            return bytes(data), False
        data += chunk
        seen += chunk.count(b"\n")
    end = _nth_newline_end(data, lines)
    if end is not None:
        return bytes(data[:end]), False
    return bytes(data), len(data) >= cap and os.read(fd, 1) != b""  # cut only if more follows


def _nth_newline_end(data: bytearray, n: int) -> int | None:
    pos = -1
    for _ in range(n):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return None
    return pos + 1


def read_tail(fd: int, lines: int, cap: int, size: int) -> tuple[bytes, bool]:
    """The last ``lines`` lines, read backwards in blocks, at most ``cap`` bytes; and if cut."""
    if lines == 0 or size == 0:
        return b"", False
    data = b""
    offset = size
    while offset > 0 and len(data) < cap:
        step = min(_BLOCK, offset, cap - len(data))
        offset -= step
        data = os.pread(fd, step, offset) + data
        body = data[:-1] if data.endswith(b"\n") else data
        if body.count(b"\n") >= lines:
            start = len(body)
            for _ in range(lines):
                start = body.rfind(b"\n", 0, start)
            return data[start + 1 :], False
    return data, offset > 0


def decode_text(data: bytes, path: str, cut_start: bool = False, cut_end: bool = False) -> str:
    """UTF-8 text from ``data``; binary content is refused rather than shown as garbage."""
    if b"\x00" in data:
        raise ToolError(f"{shown(path)}: binary file (contains NUL bytes); use read_media_file")
    if cut_start:  # a bounded tail may start inside a multi-byte character
        skip = 0
        while skip < min(3, len(data)) and 0x80 <= data[skip] < 0xC0:
            skip += 1
        data = data[skip:]
    if cut_end:
        data = _trim_partial_end(data)
    text = data.decode("utf-8", "replace")
    if text.count("\ufffd") > max(8, len(text) // 10):
        raise ToolError(f"{shown(path)}: binary file (not UTF-8 text); use read_media_file")
    return text


def _trim_partial_end(data: bytes) -> bytes:
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: keep it only if its sequence is complete
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def line_ending(sample: bytes) -> bytes | None:
    """``\\r\\n`` if every newline in ``sample`` is CRLF, ``\\n`` if none is, None if mixed/none."""
    total = sample.count(b"\n")
    crlf = sample.count(b"\r\n")
    if total == 0:
        return None
    return b"\r\n" if crlf == total else b"\n" if crlf == 0 else None


def write_atomic(loc: Location, data: bytes, limits: Limits) -> None:
    """Replace or create the file at ``loc`` with ``data``: temp file, fsync, rename."""
    previous = check_writable(loc, limits)
    mode = (previous.st_mode & 0o1777) if previous else (0o666 & ~limits.umask)
    temp = f".ironcurtain-{os.urandom(8).hex()}.tmp"
    fd = os.open(
        temp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=loc.dir_fd,
    )
    try:
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
            if previous is not None and os.geteuid() == 0:
                os.fchown(fd, previous.st_uid, previous.st_gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        check_writable(loc, limits)  # again, just before the rename, to narrow any swap window
        checkpoint()  # cancelled by the client: the temp file goes, the file stays as it was
        os.rename(temp, loc.name, src_dir_fd=loc.dir_fd, dst_dir_fd=loc.dir_fd)
    except BaseException:
        _unlink_quietly(temp, loc.dir_fd)
        raise
    os.fsync(loc.dir_fd)


def check_writable(loc: Location, limits: Limits) -> os.stat_result | None:
    """The current entry's stat if it may be replaced (None if absent); refuse otherwise."""
    if loc.name is None:
        raise ToolError(f"{shown(loc.path)}: is a directory")
    if os.fstat(loc.dir_fd).st_mode & 0o222 == 0:
        raise ToolError(f"{shown(loc.path)}: refused, the directory is read-only")
    try:
        st = os.lstat(loc.name, dir_fd=loc.dir_fd)
    except FileNotFoundError:
        return None
    _check_regular(loc.path, st)
    if st.st_mode & 0o222 == 0 or not os.access(
        loc.name, os.W_OK, dir_fd=loc.dir_fd, follow_symlinks=False
    ):
        raise ToolError(f"{shown(loc.path)}: refused, the file is read-only")
    if st.st_nlink > 1 and not limits.allow_hardlinks:
        raise ToolError(
            f"{shown(loc.path)}: refused, the file has {st.st_nlink} hard links and may be "
            "reachable from outside the allowed directories"
        )
    return st


def _write_all(fd: int, data: bytes) -> None:
    # A chunk at a time, so a write the client cancels stops within one chunk.
    view = memoryview(data)
    while view:
        checkpoint()
        view = view[os.write(fd, view[:_WRITE_CHUNK]) :]


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)
