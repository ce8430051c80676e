"""Waiting for a git child, and stopping it at its deadline or when the client cancels the call.

:func:`wait` returns git's exit code. A pidfd wakes it the moment git exits, where
``Popen.wait(timeout)`` polls with growing sleeps that add milliseconds to every call. Inside a
request (``servers.wire.cancel``) an eventfd the cancellation rings wakes it too. At the deadline
or on the cancellation git is stopped the same way, the way it cleans up after itself: SIGTERM to
its whole process group (git, the far side of a local transport, pack-objects, index-pack),
which makes git remove its lock files and a partial clone (git's own signal handlers); whatever
has not exited after :data:`STOP_GRACE_S` gets SIGKILL. The group is signalled before its leader
is reaped, so the group id cannot have been reused; the leader is always reaped.

Then :func:`tidy` removes what git may still have left in the repository, but only entries it
made during this call: lock files (``*.lock`` at the top of the git directory and under
``refs/``, left by a git that needed SIGKILL) and temporary object files (``objects/??/tmp_obj_*``,
``objects/pack/tmp_*``, left by unpack-objects and index-pack even on SIGTERM). An entry counts as
the call's when it was modified after the call's git started and no other git of this server runs
in the same repository. Nothing is followed through a symlink. Objects already written stay
(unreachable; ``git gc`` removes them), and so does anything on the far side of a push. Last,
:class:`TimedOut` (the deadline) or ``CallCancelled`` is raised.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
import threading
import time
from typing import Protocol

from servers.wire import cancel
from servers.wire.cancel import CallCancelled

__all__ = ["STOP_GRACE_S", "Child", "Running", "TimedOut", "Wake", "stop_group", "tidy", "wait"]

STOP_GRACE_S = 2.0
_MAX_ENTRIES = 20_000  # entries looked at per directory: tidying stays bounded
_MAX_DEPTH = 8  # of refs/ folders


class Child(Protocol):
    """The runner's ``subprocess.Popen`` (this module starts no process and needs no more)."""

    pid: int

    def wait(self) -> int: ...


class TimedOut(Exception):
    """git reached its deadline and was stopped (its group gone, the call's leftovers removed)."""


def wait(
    proc: Child,
    timeout: float,
    subcommand: str,
    git_dirs: tuple[str, ...],
    running: Running,
) -> int:
    """git's exit code. At the deadline, or when the client cancels the call first, git is
    stopped, the call's leftovers in ``git_dirs`` removed, and :class:`TimedOut` or
    ``CallCancelled`` raised."""
    cancellation = cancel.current()
    since = time.time_ns() - 100_000_000  # file times lag the clock by up to a tick
    wake = Wake()
    running.enter(git_dirs)
    try:
        with cancellation.hook(wake.ring) if cancellation else contextlib.nullcontext():
            code = _wait(proc, timeout, wake.fd)
        if code is not None:
            return code
        clean = stop_group(proc)
    finally:
        wake.close()
        alone = running.leave(git_dirs)
    removed = tidy(git_dirs, since) if alone else []
    if cancellation is not None and cancellation.cancelled:
        _stopped(subcommand, "its call was cancelled", clean, removed)
        raise CallCancelled(cancellation.reason or "")
    _stopped(subcommand, f"it timed out after {timeout:g} s", clean, removed)
    raise TimedOut(f"git {subcommand} timed out after {timeout:g} s")


def _stopped(subcommand: str, why: str, clean: bool, removed: list[str]) -> None:
    """One line on stderr (the operator's log)."""
    how = "exited on SIGTERM" if clean else "killed (SIGKILL)"
    line = f"ironcurtain-git: git {subcommand} stopped, {why}: git {how}"
    if removed:
        line += f"; removed {len(removed)} leftover(s): {', '.join(removed[:10])}"
    print(line, file=sys.stderr, flush=True)


def _wait(proc: Child, timeout: float, wake: int | None = None) -> int | None:
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return _wait_polling(proc, timeout, wake)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(max(1, int(timeout * 1000)))}
        if pidfd not in ready:
            return None  # the deadline, or the cancellation's wake
    finally:
        os.close(pidfd)
    return proc.wait()


def _wait_polling(proc: Child, timeout: float, wake: int | None) -> int | None:
    # No pidfd (a kernel before 5.3): look every 10 ms.
    deadline = time.monotonic() + timeout
    while not _exited(proc.pid, 0.01):
        rung = wake is not None and select.select([wake], [], [], 0)[0]
        if rung or time.monotonic() >= deadline:
            return None
    return proc.wait()


class Running:
    """How many gits of this server run in each git directory (leftovers are only removed
    where no other one runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}

    def enter(self, git_dirs: tuple[str, ...]) -> None:
        with self._lock:
            for key in git_dirs:
                self._count[key] = self._count.get(key, 0) + 1

    def leave(self, git_dirs: tuple[str, ...]) -> bool:
        """Count these out; True when no other git of ours runs in any of them."""
        with self._lock:
            for key in git_dirs:
                self._count[key] -= 1
                if not self._count[key]:
                    del self._count[key]
            return not any(key in self._count for key in git_dirs)


class Wake:
    """An eventfd the cancellation hook rings to wake the wait on git. Ringing after close is a
    no-op (never a write to a reused descriptor number)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fd: int | None = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def ring(self) -> None:
        with self._lock:
            if self.fd is not None:
                os.eventfd_write(self.fd, 1)

    def close(self) -> None:
        with self._lock:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None


def stop_group(proc: Child) -> bool:
    """Stop git's process group and reap git; True when git exited on SIGTERM (cleaned up)."""
    _signal_group(proc.pid, signal.SIGTERM)
    exited = _exited(proc.pid, STOP_GRACE_S)
    _signal_group(proc.pid, signal.SIGKILL)  # stragglers; the leader is not yet reaped
    proc.wait()
    return exited


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _exited(pid: int, within: float) -> bool:
    # waitid with WNOWAIT: see the exit without reaping, so the pid stays reserved.
    deadline = time.monotonic() + within
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def tidy(git_dirs: tuple[str, ...], since_ns: int) -> list[str]:
    """Remove the call's leftovers (see the module docstring); the paths removed."""
    removed: list[str] = []
    for top in dict.fromkeys(git_dirs):
        fd = _open_dir(None, top)
        if fd is None:
            continue
        try:
            removed += _sweep(fd, top, since_ns, lambda n: n.endswith(".lock"))
            removed += _under(fd, top, ("refs",), since_ns, _MAX_DEPTH)
            removed += _objects(fd, top, since_ns)
        finally:
            os.close(fd)
    return removed


def _objects(fd: int, top: str, since_ns: int) -> list[str]:
    objects = _open_dir(fd, "objects")
    if objects is None:
        return []
    removed: list[str] = []
    try:
        pack = _open_dir(objects, "pack")
        if pack is not None:
            try:
                removed += _sweep(pack, f"{top}/objects/pack", since_ns, _is_tmp)
            finally:
                os.close(pack)
        for entry in _entries(objects):
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                fan = _open_dir(objects, entry.name)
                if fan is None:
                    continue
                try:
                    where = f"{top}/objects/{entry.name}"
                    removed += _sweep(fan, where, since_ns, lambda n: n.startswith("tmp_obj_"))
                finally:
                    os.close(fan)
    finally:
        os.close(objects)
    return removed


def _is_tmp(name: str) -> bool:
    return name.startswith(("tmp_pack_", "tmp_idx_", "tmp_rev_", "tmp_mtimes_"))


def _under(fd: int, top: str, path: tuple[str, ...], since_ns: int, depth: int) -> list[str]:
    sub = _open_dir(fd, path[-1])
    if sub is None:
        return []
    where = "/".join((top, *path))
    try:
        removed = _sweep(sub, where, since_ns, lambda n: n.endswith(".lock"))
        if depth > 0:
            for entry in _entries(sub):
                if entry.is_dir(follow_symlinks=False):
                    removed += _under(sub, top, (*path, entry.name), since_ns, depth - 1)
        return removed
    finally:
        os.close(sub)


def _sweep(fd: int, where: str, since_ns: int, wanted) -> list[str]:
    removed = []
    for entry in _entries(fd):
        if not wanted(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_mtime_ns >= since_ns:
            with contextlib.suppress(OSError):
                os.unlink(entry.name, dir_fd=fd)
                removed.append(f"{where}/{entry.name}")
    return removed


def _entries(fd: int) -> list[os.DirEntry]:
    try:
        with os.scandir(fd) as listing:
            return [entry for _, entry in zip(range(_MAX_ENTRIES), listing, strict=False)]
    except OSError:
        return []


def _open_dir(fd: int | None, name: str) -> int | None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=fd)
    except OSError:
        return None
