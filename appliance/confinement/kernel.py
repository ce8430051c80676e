"""What this kernel offers for confinement, probed without side effects (``serve``, ``doctor``)."""

from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

from appliance.confinement import landlock, process, seccomp

__all__ = ["LANDLOCK_ABI_REQUIRED", "Features", "probe"]

# ABI 6 (Linux 6.12): filesystem rules, TCP connect/bind rules (4), signal and abstract-socket
# scoping (6). Each is part of what a profile promises, so none is optional.
LANDLOCK_ABI_REQUIRED = 6
_PR_GET_SECCOMP = 21


class Features(NamedTuple):
    landlock_abi: int
    seccomp_filter: bool
    seccomp_arch: bool
    user_namespaces: bool
    running_as_root: bool
    root_process_cap: bool  # a pids cgroup we can use (RLIMIT_NPROC does not bind uid 0)

    def root_process_cap_warning(self) -> str | None:
        if self.running_as_root and not self.root_process_cap:
            return (
                "running as root, where the kernel ignores RLIMIT_NPROC, and no writable pids "
                "cgroup was found: the server's number of processes is not capped (run the "
                "appliance as an ordinary user)"
            )
        return None

    def missing(self, *, needs_network_namespace: bool) -> list[str]:
        """One sentence per mechanism a confined start needs and this kernel lacks (and the fix)."""
        out = []
        if self.landlock_abi < LANDLOCK_ABI_REQUIRED:
            have = f"ABI {self.landlock_abi}" if self.landlock_abi else "absent"
            out.append(
                f"Landlock ABI {LANDLOCK_ABI_REQUIRED} (Linux 6.12+, 'landlock' in the lsm= boot "
                f"list) is needed for file, TCP and signal rules; this kernel's is {have}"
            )
        if not self.seccomp_filter:
            out.append("seccomp filters (CONFIG_SECCOMP_FILTER) are not available")
        elif not self.seccomp_arch:
            out.append("seccomp: this architecture has no system call table in the appliance")
        if not self.user_namespaces and (needs_network_namespace or not self.running_as_root):
            out.append(
                "user namespaces are disabled (sysctl user.max_user_namespaces, or "
                "kernel.unprivileged_userns_clone / an AppArmor userns restriction)"
            )
        return out


def _seccomp_filter_available() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) >= 0


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _user_namespaces() -> bool:
    if (_read_int("/proc/sys/user/max_user_namespaces") or 0) <= 0:
        return False
    if os.getuid() == 0:
        return True
    for knob in ("/proc/sys/kernel/unprivileged_userns_clone",
                 "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"):  # fmt: skip
        value = _read_int(knob)
        if value is not None and value == (0 if knob.endswith("clone") else 1):
            return False
    return True


def probe() -> Features:
    return Features(
        landlock_abi=landlock.abi_version(),
        seccomp_filter=_seccomp_filter_available(),
        seccomp_arch=seccomp.supported_arch(),
        user_namespaces=_user_namespaces(),
        running_as_root=os.getuid() == 0,
        root_process_cap=os.getuid() == 0 and process.can_cap_processes_as_root(),
    )
