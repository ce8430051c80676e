"""Plain sentences about confinement for people: the kernel's features, a server's grant."""

from __future__ import annotations

from appliance.confinement.kernel import LANDLOCK_ABI_REQUIRED, Features
from appliance.confinement.profile import Plan

__all__ = ["describe_features", "describe_plan"]


def describe_features(features: Features) -> str:
    parts = [
        f"Landlock ABI {features.landlock_abi} (needs {LANDLOCK_ABI_REQUIRED})"
        if features.landlock_abi
        else "no Landlock",
        "seccomp filters" if features.seccomp_filter and features.seccomp_arch else "no seccomp",
        "user namespaces" if features.user_namespaces else "no user namespaces",
    ]
    if features.running_as_root:
        cap = "pids cgroup" if features.root_process_cap else "NO pids cgroup"
        parts.append(f"running as root ({cap} caps processes)")
    return ", ".join(parts)


def _list(paths: tuple[str, ...]) -> str:
    return ", ".join(paths) if paths else "nothing"


def describe_plan(plan: Plan) -> str:
    limits = plan.limits
    if plan.any_tcp_port:
        network = "TCP connect to any port (test-only flag)"
    elif plan.connect_tcp:
        network = "TCP connect to port " + ", ".join(str(p) for p in plan.connect_tcp)
    else:
        network = "none (own empty network namespace, no sockets)"
    return (
        f"write: {_list(plan.write)}; read: {_list(plan.read)}; "
        f"execute: {_list(plan.execute)}; network: {network}; "
        f"limits: {limits.address_space_mib} MiB address space, {limits.cpu_seconds} CPU s, "
        f"{limits.processes} processes, {limits.file_size_mib} MiB per file, "
        f"{limits.open_files} open files"
    )
