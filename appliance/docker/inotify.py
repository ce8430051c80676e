"""The kernel's inotify, through libc (ctypes): the one file that talks to it.

An `Inotify` is one instance (`inotify_init1`, non-blocking, close-on-exec) that watches folders
it is handed as open descriptors: `add(fd)` watches `/proc/self/fd/<fd>`, so the folder watched
is exactly the one opened (`git_metadata.open_folder`: one component at a time, never through a
link), not whatever a path names by the time the kernel resolves it. `read` waits for events and
parses them. Every failure is an `OSError` with the kernel's errno (`ENOSPC`: the user's
`fs.inotify.max_user_watches` is reached; `EMFILE`: `max_user_instances`); a system without
inotify raises one too (`ENOSYS`). Closing the instance releases its watches.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IN_CREATE", "IN_IGNORED", "IN_ISDIR", "IN_MOVED_FROM", "IN_MOVED_TO", "IN_Q_OVERFLOW",
    "Event", "Inotify", "max_user_watches",
]  # fmt: skip

IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_Q_OVERFLOW = 0x4000  # the kernel's queue overflowed: events were lost (wd is -1)
IN_IGNORED = 0x8000  # the watch is gone (its folder deleted, or removed)
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
WATCHED = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)
_READ_BYTES = 256 * 1024
# The user's limit, and the user namespace's (a container's, where it is lower): both apply.
_LIMITS = (
    Path("/proc/sys/fs/inotify/max_user_watches"),
    Path("/proc/sys/user/max_inotify_watches"),
)
KERNEL_MINIMUM = 8192  # the smallest value the kernel sets by itself


@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    cookie: int
    name: str  # "" for an event about the watched folder itself


def max_user_watches() -> int:
    """The kernel's per-user watch limit (shared by every process of the user: an IDE too)."""
    limits = []
    for path in _LIMITS:
        try:
            limits.append(int(path.read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(limits, default=KERNEL_MINIMUM)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except AttributeError:
        raise OSError(errno.ENOSYS, "this system's C library has no inotify") from None
    return libc


def _failed(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


class Inotify:
    def __init__(self) -> None:
        self._libc = _libc()
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise _failed("inotify_init1")
        self._poller = select.poll()  # not select(): a descriptor may be numbered above 1023
        self._poller.register(self.fd, select.POLLIN)

    def add(self, folder_fd: int) -> int:
        """Watch the open folder `folder_fd` for entries made or moved in or out; its watch
        descriptor (the same one again for a folder already watched)."""
        path = f"/proc/self/fd/{folder_fd}".encode()
        wd = self._libc.inotify_add_watch(self.fd, path, WATCHED)
        if wd < 0:
            raise _failed("inotify_add_watch")
        return wd

    def remove(self, wd: int) -> None:
        self._libc.inotify_rm_watch(self.fd, wd)  # a watch already gone is fine

    def read(self, timeout: float) -> list[Event]:
        """The events queued, waiting up to `timeout` seconds for the first."""
        if timeout > 0 and not self._poller.poll(int(timeout * 1000)):
            return []
        try:
            data = os.read(self.fd, _READ_BYTES)
        except BlockingIOError:
            return []
        events, offset = [], 0
        while offset + _HEADER.size <= len(data):
            wd, mask, cookie, size = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            raw = data[start : start + size].split(b"\0", 1)[0]
            events.append(Event(wd, mask, cookie, os.fsdecode(raw)))
            offset = start + size
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
