"""A seccomp filter built here as classic BPF: the system calls no server ever needs, refused.

Landlock decides *what* a server may touch; this filter removes kernel interfaces a compromised
server could use to get around it or to attack the kernel: debugging other processes, mounts and
namespaces, modules, kexec, BPF, perf, keyrings, io_uring (whose operations seccomp cannot see),
handle-based opens that skip path checks, clocks, ``TIOCSTI`` terminal injection, and changing
owners or extended attributes by path (Landlock does not mediate those; ``fchown`` on a file the
server has opened stays, the filesystem server keeps an edited file's owner with it). ``socket``
is allowed only for the address families the profile's network needs (none: no socket at all,
so no pathname Unix socket such as ``/var/run/docker.sock`` either, which Landlock does not
mediate). ``clone`` with a namespace flag is refused; ``clone3``, whose flags live in memory the
filter cannot read, answers ENOSYS so the C library falls back to ``clone``.

A refused call returns EPERM (the program sees an ordinary error); a call from another
architecture's ABI (x32 on x86-64, or anything not the native one) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from appliance.errors import ConfinementError

__all__ = ["SeccompError", "build_filter", "install", "supported_arch"]

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_OFF_NR, _OFF_ARCH, _OFF_ARGS = 0, 4, 16
_X32_BIT = 0x40000000

_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16

# System call numbers from the kernel's unistd headers: name, x86_64, aarch64 (- : none there).
_TABLE = """
ptrace 101 117          process_vm_readv 310 270   process_vm_writev 311 271
mount 165 40            umount2 166 39             pivot_root 155 41
chroot 161 51           swapon 167 224             swapoff 168 225
reboot 169 142          kexec_load 246 104         kexec_file_load 320 294
init_module 175 105     finit_module 313 273       delete_module 176 106
bpf 321 280             perf_event_open 298 241    userfaultfd 323 282
keyctl 250 219          add_key 248 217            request_key 249 218
unshare 272 97          setns 308 268              open_by_handle_at 304 265
name_to_handle_at 303 264  acct 163 89             settimeofday 164 170
clock_settime 227 112   clock_adjtime 305 266      adjtimex 159 171
sethostname 170 161     setdomainname 171 162      iopl 172 -
ioperm 173 -            quotactl 179 60            fsopen 430 430
fsconfig 431 431        fsmount 432 432            move_mount 429 429
fspick 433 433          open_tree 428 428          mount_setattr 442 442
syslog 103 116          vhangup 153 58             io_uring_setup 425 425
io_uring_enter 426 426  io_uring_register 427 427  kcmp 312 272
pidfd_getfd 438 438     move_pages 279 239         migrate_pages 256 238
lookup_dcookie 212 18   socket 41 198              clone 56 220
clone3 435 435          ioctl 16 29                chown 92 -
lchown 94 -             fchownat 260 54            setxattr 188 5
lsetxattr 189 6         fsetxattr 190 7            removexattr 197 14
lremovexattr 198 15     fremovexattr 199 16
"""
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _numbers(machine: str) -> dict[str, int]:
    column = 1 + list(_AUDIT_ARCH).index(machine)
    words = _TABLE.split()
    rows = [words[i : i + 3] for i in range(0, len(words), 3)]
    return {row[0]: int(row[column]) for row in rows if row[column] != "-"}


_SPECIAL = ("socket", "clone", "clone3", "ioctl")


class SeccompError(ConfinementError, OSError):
    """The kernel refused the filter, or this architecture has no syscall table here."""


def supported_arch() -> bool:
    return os.uname().machine in _AUDIT_ARCH


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _insn(_RET, value)


def _load(offset: int) -> bytes:
    return _insn(_LD_W_ABS, offset)


def _when(nr: int, block: list[bytes]) -> list[bytes]:
    """If the syscall is ``nr`` run ``block`` (which must end in a return), else go on."""
    return [_insn(_JEQ, nr, 0, len(block)), *block]


def _arg_low(index: int) -> int:
    return _OFF_ARGS + 8 * index  # little-endian: the low 32 bits come first


def build_filter(socket_domains: frozenset[int], machine: str | None = None) -> bytes:
    """The filter program's bytes for this machine, ``socket`` limited to ``socket_domains``."""
    machine = machine or os.uname().machine
    if machine not in _AUDIT_ARCH:
        raise SeccompError(0, f"no system call table for architecture {machine!r}")
    arch, numbers = _AUDIT_ARCH[machine], _numbers(machine)
    eperm = _ERRNO | errno.EPERM
    prog = [_load(_OFF_ARCH), _insn(_JEQ, arch, 1, 0), _ret(_KILL_PROCESS), _load(_OFF_NR)]
    if machine == "x86_64":
        prog += [_insn(_JGE, _X32_BIT, 0, 1), _ret(_KILL_PROCESS)]
    for name, nr in numbers.items():
        if name not in _SPECIAL:
            prog += _when(nr, [_ret(eperm)])
    prog += _when(numbers["clone3"], [_ret(_ERRNO | errno.ENOSYS)])
    sockets = [_load(_arg_low(0))]
    for domain in sorted(socket_domains):
        sockets += [_insn(_JEQ, domain, 0, 1), _ret(_ALLOW)]
    prog += _when(numbers["socket"], [*sockets, _ret(eperm)])
    clone = [_load(_arg_low(0)), _insn(_JSET, _NAMESPACE_FLAGS, 0, 1), _ret(eperm), _ret(_ALLOW)]
    prog += _when(numbers["clone"], clone)
    ioctl = [_load(_arg_low(1))]
    for request in (_TIOCSTI, _TIOCLINUX):
        ioctl += [_insn(_JEQ, request, 0, 1), _ret(eperm)]
    prog += _when(numbers["ioctl"], [*ioctl, _ret(_ALLOW)])
    prog.append(_ret(_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def install(program: bytes) -> None:
    """Attach the filter to this thread and its future children. ``no_new_privs`` must be set."""
    if len(program) // 8 > 4096:
        raise SeccompError(0, "seccomp filter longer than the kernel's 4096 instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong]
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"prctl(PR_SET_SECCOMP): {errno.errorcode.get(err, err)}")
