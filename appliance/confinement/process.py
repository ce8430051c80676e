"""Process-wide settings applied before Landlock and seccomp: namespaces, caps, rlimits, NNP.

- ``no_new_privs``: no exec can gain privileges (setuid bits, file capabilities); Landlock and
  seccomp require it from an unprivileged process, and it is inherited by every child.
- Capabilities: a server started as root drops every capability from its bounding, effective,
  permitted, inheritable and ambient sets, so neither it nor a program it runs (``git``) holds
  any: no DAC override, no raw sockets, no ``CAP_SYS_ADMIN``.
- A user namespace (when not root) gives the server its own count of processes for
  ``RLIMIT_NPROC``, so the cap measures the server's tree, not every process of the user; a network
  namespace (servers with no network) leaves it with one loopback interface, down.
- rlimits: address space, CPU seconds, processes, file size, open files; core dumps off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource

__all__ = ["drop_capabilities", "enter_namespaces", "set_limits", "set_no_new_privs"]

_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP, _PR_CAP_AMBIENT = 38, 24, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_DUMPABLE = 4
_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
_CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def set_no_new_privs() -> None:
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def set_not_dumpable() -> None:
    """No core dump, and no other process of the same user may attach to this one or read its
    memory and environment through /proc (they become root's): for a process holding keys."""
    _check(_libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """Empty every capability set of this process (a no-op for an ordinary user)."""
    _check(_libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps")
    for cap in range(_last_capability() + 1):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 1:
            _check(-1, f"prctl(PR_CAPBSET_DROP, {cap})")
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def enter_namespaces(*, network: bool, mounts: bool = False) -> list[str]:
    """Enter new namespaces; returns their names. ``network`` False: a private, empty network;
    ``mounts``: a mount namespace of its own (for ``shell.install``)."""
    flags, names = 0, []
    if os.getuid() != 0:
        flags |= _CLONE_NEWUSER
        names.append("user")
    if not network:
        flags |= _CLONE_NEWNET
        names.append("network")
    if mounts:
        flags |= _CLONE_NEWNS
        names.append("mount")
    if not flags:
        return names
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(flags), f"unshare({'+'.join(names)})")
    if flags & _CLONE_NEWUSER:
        # Map our own ids onto themselves: files keep their owners, no id is gained.
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return names


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def set_limits(limits: dict[int, int]) -> None:
    """``setrlimit`` each (soft = hard, so the server cannot raise it back); never raises one."""
    for which, value in limits.items():
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


_CGROUP_PREFIX = "ironcurtain-"
_CAP_DAC_OVERRIDE = 1


def _has_capability(cap: int) -> bool:
    try:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("CapEff:"))
    except (OSError, StopIteration):
        return False
    return bool(int(line.split()[1], 16) >> cap & 1)


def _pids_cgroup_dir() -> str | None:
    """This process's cgroup folder under a writable pids controller (v1), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            folder = os.path.join("/sys/fs/cgroup/pids", path.lstrip("/"))
            # mkdir there needs CAP_DAC_OVERRIDE (the controller's root is r-x for everyone)
            if os.path.isdir(folder) and _has_capability(_CAP_DAC_OVERRIDE):
                return folder
    return None


def stale_folders(parent: str, prefix: str) -> list[str]:
    """``<prefix><pid>...`` folders in ``parent`` whose process is gone."""
    found = []
    for name in os.listdir(parent):
        pid = name[len(prefix) :].split("-")[0]
        if name.startswith(prefix) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            found.append(os.path.join(parent, name))
    return found


def remove_tree(folder: str) -> None:
    import shutil  # rarely needed: kept off every start's import path

    shutil.rmtree(folder, ignore_errors=True)


def can_cap_processes_as_root() -> bool:
    return _pids_cgroup_dir() is not None


def cap_processes_as_root(limit: int) -> str:
    """The kernel never applies ``RLIMIT_NPROC`` to uid 0, so a server started as root is put in
    a pids cgroup of its own with ``pids.max``. Returns the cgroup's folder.

    Moving a process between cgroups costs the kernel an RCU grace period (5-15 ms here); the
    appliance's server pool therefore moves each server it starts while the server is still
    importing (:func:`place_in_pids_cgroup`), and this step then only checks, and sets the
    limit it reads from its own profile."""
    folder = place_in_pids_cgroup(os.getpid(), limit)
    if folder is None:
        raise OSError(0, "no writable pids cgroup controller to cap a root server's processes")
    return folder


def place_in_pids_cgroup(pid: int, limit: int) -> str | None:
    """Put process ``pid`` in the pids cgroup ``ironcurtain-<pid>`` with ``pids.max = limit``
    (made if missing); None without a writable pids controller. Callable from the parent that
    started ``pid`` and from ``pid`` itself: whichever comes second finds it done."""
    parent = _pids_cgroup_dir()
    if parent is None:
        return None
    name = f"{_CGROUP_PREFIX}{pid}"
    if pid == os.getpid() and os.path.basename(parent) == name:
        parent = os.path.dirname(parent)  # the server pool already moved this process
    folder = os.path.join(parent, name)
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    else:
        for stale in stale_folders(parent, _CGROUP_PREFIX):
            with contextlib.suppress(OSError):
                os.rmdir(stale)  # fails while the cgroup still has processes
    _write(os.path.join(folder, "pids.max"), str(limit))
    if not _member_of(pid, folder):
        _write(os.path.join(folder, "cgroup.procs"), str(pid))
    return folder


def _member_of(pid: int, folder: str) -> bool:
    try:
        with open(os.path.join(folder, "cgroup.procs")) as f:
            return str(pid) in f.read().split()
    except OSError:
        return False
