"""The interface every family plugs into: ``GROUPS`` maps a group name to ``check(facts) ->
list[Check]``; the groups run concurrently, each in a daemon thread, and a group that crashes or
hangs fails.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable

from appliance.cli.doctor.base import GROUP_TIMEOUT_S, Check, Facts, fail
from appliance.cli.doctor.config import check_config
from appliance.cli.doctor.confinement import check_confinement
from appliance.cli.doctor.docker import check_ca, check_docker
from appliance.cli.doctor.files import check_disk, check_permissions
from appliance.cli.doctor.guest import check_guest
from appliance.cli.doctor.policy import check_policy
from appliance.cli.doctor.runtime import check_runtime
from appliance.cli.doctor.servers import check_servers
from appliance.config.paths import AppPaths, app_paths

GROUPS: dict[str, Callable[[Facts], list[Check]]] = {
    "runtime": check_runtime,
    "guest": check_guest,
    "config": check_config,
    "policy": check_policy,
    "servers": check_servers,
    "confinement": check_confinement,
    "docker": check_docker,
    "ca": check_ca,
    "permissions": check_permissions,
    "disk": check_disk,
}


_SHARED_MODULES = (
    # the package first: its __init__ and profile.py import each other's modules (the
    # confinement group and every server group import both)
    "appliance.confinement",
    "appliance.sandbox.sandbox",
    "appliance.session.core",
    "appliance.agent.code_session",
    "appliance.cli.policy_cmd",
    "policy.scenarios",
    "httpx",
    "requests",
)


_REQUIRED = {
    "runtime",
    "guest",
    "config",
    "policy",
    "servers",
    "confinement",
    "ca",
    "permissions",
    "disk",
}


def gather_facts(paths: AppPaths | None = None, *, online: bool = False) -> Facts:
    from appliance.config.settings import Config, ConfigError, load_config

    paths = paths or app_paths()
    try:
        return Facts(paths, load_config(paths), None, online)
    except ConfigError as exc:
        return Facts(paths, Config(), str(exc), online)


def run_checks(
    facts: Facts, skip: frozenset[str] = frozenset(), timeout_s: float = GROUP_TIMEOUT_S
) -> list[Check]:
    """Every group not skipped, concurrently; the results in the order of ``GROUPS``."""
    _preload()
    probes = {name: _Probe(GROUPS[name], facts) for name in GROUPS if name not in skip}
    deadline = time.monotonic() + timeout_s
    for probe in probes.values():
        probe.join(max(0.0, deadline - time.monotonic()))
    results: list[Check] = []
    for name in GROUPS:
        if name in skip:
            results.append(Check(name, name in _REQUIRED, "skip", "skipped (--skip)"))
        else:
            results.extend(probes[name].outcome(name, timeout_s))
    return results


def _preload() -> None:
    """Import what several groups share before the threads start.

    Two threads importing one package whose modules import each other can deadlock (Python
    then raises ``_DeadlockError`` in one of them), and a failed import reads as a broken
    installation. Each group's own heavy import (mcp, docker, litellm) stays in its thread.
    """
    for module in _SHARED_MODULES:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: S112 - the group that needs it imports it again and reports
            continue


class _Probe(threading.Thread):
    """One group in a daemon thread: a probe that hangs can neither hang nor outlive the doctor."""

    def __init__(self, group: Callable[[Facts], list[Check]], facts: Facts) -> None:
        super().__init__(name=f"doctor-{group.__name__}", daemon=True)
        self._group, self._facts = group, facts
        self.checks: list[Check] | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.checks = self._group(self._facts)
        except BaseException as exc:  # reported by outcome(): a crashed check fails
            self.error = exc

    def outcome(self, name: str, timeout_s: float) -> list[Check]:
        fix = "run `ironcurtain doctor` again; report a bug if it persists"
        if self.is_alive():
            return [fail(name, f"no answer within {timeout_s:g} s", fix)]
        if self.error is not None or self.checks is None:
            # Fail closed: a check that could not look has not seen ok.
            detail = f"the check itself failed: {type(self.error).__name__}: {self.error}"
            return [fail(name, detail[:300], fix)]
        return self.checks
