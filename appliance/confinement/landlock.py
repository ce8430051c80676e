"""Landlock through its three system calls (ctypes, no binding): the filesystem and TCP rules.

Facts from the kernel's uapi header ``linux/landlock.h`` and landlock(7):

- ``landlock_create_ruleset(attr, size, flags)`` (syscall 444 on every architecture) returns a
  ruleset fd, or with ``LANDLOCK_CREATE_RULESET_VERSION`` and no attr the ABI version (7 here).
- ``landlock_add_rule(fd, type, attr, 0)`` (445) adds a ``path_beneath`` rule (an ``O_PATH`` fd and
  the rights granted beneath it; packed, 12 bytes) or a ``net_port`` rule (rights, port).
- ``landlock_restrict_self(fd, 0)`` (446) enforces it on this thread; it needs ``no_new_privs``.
  A process must call it before starting threads: it binds the calling thread only, and threads
  started later inherit it. The domain is inherited by every child and can never be lifted.

Rights the ruleset *handles* and no rule grants are denied; rights it does not handle stay
allowed, so the ruleset handles every right the running kernel knows (by ABI version).
"""

from __future__ import annotations

import ctypes
import os
import stat

from appliance.errors import ConfinementError

__all__ = ["FS", "LandlockError", "Ruleset", "abi_version", "fs_rights_for_abi"]

_SYS_CREATE, _SYS_ADD, _SYS_RESTRICT = 444, 445, 446
_CREATE_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2


class FS:
    """``LANDLOCK_ACCESS_FS_*``: one bit per right."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5

    READ = READ_FILE | READ_DIR
    # What a writable folder grants: files and folders made, changed, moved, removed; symlinks
    # (the servers refuse to follow them out). Never devices, FIFOs or sockets.
    WRITE = (
        READ
        | WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SYM
        | REFER
        | TRUNCATE
    )
    # The only rights a rule on a single file (not a folder) may carry.
    FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6


class LandlockError(ConfinementError, OSError):
    """The kernel refused a Landlock call (the message names the call and the path)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI, 0 when Landlock is absent or disabled at boot."""
    try:
        return _syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_VERSION))
    except OSError:
        return 0


def fs_rights_for_abi(abi: int) -> int:
    rights = (1 << 13) - 1
    for bit, since in ((FS.REFER, 2), (FS.TRUNCATE, 3), (FS.IOCTL_DEV, 5)):
        if abi >= since:
            rights |= bit
    return rights


class Ruleset:
    """One ruleset under construction: handle everything the ABI knows, grant only what's added."""

    def __init__(self, abi: int, handle_net: bool = True) -> None:
        self.abi, self.handle_net = abi, handle_net
        if self.abi < 1:
            raise LandlockError(0, "Landlock is not available in this kernel")
        self.fs_handled = fs_rights_for_abi(self.abi)
        attr = _RulesetAttr(
            self.fs_handled,
            NET_BIND_TCP | NET_CONNECT_TCP if self.abi >= 4 and self.handle_net else 0,
            SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if self.abi >= 6 else 0,
        )
        size = ctypes.sizeof(_RulesetAttr) if self.abi >= 6 else 16 if self.abi >= 4 else 8
        try:
            self.fd = _syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), 0)
        except OSError as exc:
            raise LandlockError(exc.errno, f"landlock_create_ruleset: {exc.strerror}") from exc

    def allow_path(self, path: str, rights: int) -> None:
        """Grant ``rights`` beneath ``path`` (a file gets only the file rights among them)."""
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= FS.FILE_ONLY
            rule = _PathBeneath(rights & self.fs_handled, fd)
            self._add(_RULE_PATH_BENEATH, rule, path)
        finally:
            os.close(fd)

    def allow_connect(self, port: int) -> None:
        self._add(_RULE_NET_PORT, _NetPort(NET_CONNECT_TCP, port), f"tcp port {port}")

    def _add(self, kind: int, rule: ctypes.Structure, what: str) -> None:
        try:
            _syscall(_SYS_ADD, self.fd, kind, ctypes.byref(rule), 0)
        except OSError as exc:
            raise LandlockError(exc.errno, f"landlock_add_rule for {what}: {exc.strerror}") from exc

    def enforce(self) -> None:
        """Restrict this thread (and everything it starts) for good. ``no_new_privs`` first."""
        try:
            _syscall(_SYS_RESTRICT, self.fd, 0)
        except OSError as exc:
            raise LandlockError(exc.errno, f"landlock_restrict_self: {exc.strerror}") from exc
        finally:
            os.close(self.fd)
