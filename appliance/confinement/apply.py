"""Confine this process to a server's profile: the one entry point, called by ``serve`` first.

Order matters: the profile is expanded and checked (nothing is applied if a grant reaches a
protected folder); then namespaces (they need capabilities), rlimits, capabilities dropped,
``no_new_privs``, Landlock, and seccomp last (its filter refuses calls the steps before use).
Everything applies to this process and every process it starts, for good.

Modes: ``enforce`` (default) refuses to start when the kernel lacks a mechanism the profile needs;
``best-effort`` applies what the kernel has and says on stderr what it could not; ``off`` is for
debugging only and says so.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from collections.abc import Callable

from appliance.confinement import landlock, process, seccomp, shell, symbols
from appliance.confinement.kernel import Features, probe
from appliance.confinement.landlock import FS
from appliance.confinement.profile import Plan, Profile, expand, load_profile
from appliance.confinement.protected import check_grants, check_writes, protected_folders
from appliance.errors import ConfinementError

__all__ = ["MODES", "ConfinementUnavailable", "Report", "confine", "plan_for"]

MODES = ("enforce", "best-effort", "off")
_TMP_PREFIX = "ironcurtain-confined-"


class ConfinementUnavailable(ConfinementError):
    """The kernel lacks a mechanism the profile needs, and the mode is ``enforce``."""


class Report:
    """What one start confined: the plan, the kernel, what it lacked, what was applied."""

    def __init__(self, plan: Plan, features: Features, missing: list[str]) -> None:
        self.plan, self.features, self.missing = plan, features, missing
        self.applied: list[str] = []
        self.warnings: list[str] = []  # weakenings that do not stop the start
        self.timings_ms: dict[str, float] = {}
        self.shell_executables: list[str] = []  # the launcher standing in for /bin/sh


def app_homes(environ=None) -> list[str]:
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    found = [env.get("IRONCURTAIN_HOME", ""), os.path.join(home, ".ironcurtain")]
    found.append(os.path.join(data, "ironcurtain"))
    return [os.path.realpath(p) for p in found if p]


def plan_for(server: str, server_args: list[str], tmp: str | None = None) -> Plan:
    """The checked, concrete grant for one start (``ConfinementRefused``, ``ProfileError``)."""
    profile = load_profile(server)
    if profile.private_tmp and tmp is None:
        tmp = "$PRIVATE_TMP"  # for display (doctor): the real folder exists only in a server
    plan = expand(server, profile, server_args, tmp)
    check_grants([*plan.read, *plan.write, *plan.execute], protected_folders(), app_homes())
    check_writes(plan.write, symbols.interpreter_paths())
    return plan


def _private_tmp() -> str:
    """A fresh folder only this server (and its children) may write: its TMPDIR.

    A confined server cannot remove its own folder (that is a write to ``/tmp``), so a dead
    server's empty one is adopted by renaming it (microseconds; removing it costs milliseconds
    on a journaled /tmp), after checking it is ours, private and empty. Otherwise a new one is
    made with a random name and mode 0700, failing if it exists: safe in a shared /tmp.
    """
    base = os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 - see the docstring
    folder = os.path.join(base, f"{_TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")
    for stale in process.stale_folders(base, _TMP_PREFIX):
        info = os.lstat(stale)
        if info.st_uid == os.getuid() and stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077:
            if not os.listdir(stale):
                os.rename(stale, folder)
                return folder
            process.remove_tree(stale)  # a killed git server's scratch home: rare
    os.mkdir(folder, 0o700)
    return folder


def confine(
    server: str, server_args: list[str], mode: str = "enforce", profile: Profile | None = None
) -> Report:
    """Apply ``server``'s profile (or ``profile``, for a declared server) to this process.
    Raises before applying anything if it can't."""
    if mode not in MODES or mode == "off":
        raise ValueError(f"confine() takes enforce or best-effort, not {mode!r}")
    if threading.active_count() != 1:
        raise ConfinementUnavailable("confinement must be applied before any thread starts")
    profile = profile or load_profile(server)
    tmp = _private_tmp() if profile.private_tmp else None
    plan = expand(server, profile, server_args, tmp)
    check_grants([*plan.read, *plan.write, *plan.execute], protected_folders(), app_homes())
    check_writes(plan.write, symbols.interpreter_paths())
    features = probe()
    missing = features.missing(needs_network_namespace=not plan.connect_tcp)
    if missing and mode == "enforce":
        raise ConfinementUnavailable(
            f"the {server} server cannot be confined on this kernel: {'; '.join(missing)}. "
            'It does not start. Set "confinement": "best-effort" in config.json (or pass '
            "--confinement best-effort) to run with what the kernel has; `ironcurtain doctor` "
            "shows the details"
        )
    report = Report(plan, features, missing)
    if plan.any_tcp_port:
        report.warnings.append("a test-only flag lets this server connect to any TCP port")
    if tmp:
        os.environ["TMPDIR"] = tmp
        if "tempfile" in sys.modules:  # it caches its folder at first use
            sys.modules["tempfile"].tempdir = tmp
    _apply(report)
    return report


def _apply(report: Report) -> None:
    plan, features = report.plan, report.features

    def step(name: str, action: Callable[[], object]) -> None:
        began = time.perf_counter()
        action()
        report.applied.append(name)
        report.timings_ms[name] = (time.perf_counter() - began) * 1000

    if features.user_namespaces:
        mounts = plan.shell is not None and plan.private_tmp is not None
        step(
            "namespaces",
            lambda: process.enter_namespaces(network=bool(plan.connect_tcp), mounts=mounts),
        )
        if mounts:
            step(f"shell {plan.shell}", lambda: _install_shell(report))
    elif plan.shell:
        report.warnings.append(
            f"no user namespaces: /bin/sh is not replaced by {plan.shell}, so what needs it "
            "(git's local transport) fails"
        )
    if features.running_as_root and features.root_process_cap:
        step("pids cgroup", lambda: process.cap_processes_as_root(plan.limits.processes))
    elif warning := features.root_process_cap_warning():
        # Resource exhaustion, not a way out: warned about, not a reason to refuse the start.
        report.warnings.append(warning)
    step("rlimits", lambda: process.set_limits(plan.limits.rlimits()))
    step("capabilities dropped", process.drop_capabilities)
    step("no_new_privs", process.set_no_new_privs)
    if features.landlock_abi >= 1:
        step(
            f"landlock ABI {features.landlock_abi}",
            lambda: _landlock(plan, features.landlock_abi, report.shell_executables),
        )
    if features.seccomp_filter and features.seccomp_arch:
        step("seccomp", lambda: seccomp.install(seccomp.build_filter(_socket_domains(plan))))


def _install_shell(report: Report) -> None:
    plan = report.plan
    if plan.shell is None or plan.private_tmp is None:
        raise ConfinementUnavailable("a replacement shell needs the server's private TMP")
    report.shell_executables = shell.install(plan.shell, plan.private_tmp, symbols.bundle_root())


def _landlock(plan: Plan, abi: int, extra_execute: list[str]) -> None:
    ruleset = landlock.Ruleset(abi, handle_net=not plan.any_tcp_port)
    for path in plan.read:
        ruleset.allow_path(path, FS.READ)
    for path in plan.write:
        ruleset.allow_path(path, FS.WRITE)
    for path in (*plan.execute, *extra_execute):
        ruleset.allow_path(path, FS.READ | FS.EXECUTE)
    for port in () if plan.any_tcp_port else plan.connect_tcp:
        ruleset.allow_connect(port)
    ruleset.enforce()


def _socket_domains(plan: Plan) -> frozenset[int]:
    if not plan.connect_tcp:
        return frozenset()
    # TCP over IPv4/IPv6, and netlink for the C library's address lookup (reading only: no
    # capability is left to change anything through it).
    return frozenset({seccomp.AF_INET, seccomp.AF_INET6, seccomp.AF_NETLINK})
