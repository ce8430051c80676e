"""Kernel confinement (Landlock, seccomp, namespaces) for each server's profile."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from appliance.cli.doctor.base import Check, Facts, fail, ok, warn


def check_confinement(facts: Facts) -> list[Check]:
    """The kernel's confinement features, and each server's effective profile for a session."""
    from appliance.confinement import ConfinementRefused, ProfileError, plan_for, probe
    from appliance.confinement.describe import describe_features, describe_plan
    from appliance.session.core import server_specs

    features = probe()
    missing = features.missing(needs_network_namespace=True)
    summary = describe_features(features)
    best_effort = facts.config.confinement == "best-effort"
    if not missing:
        checks = [ok("confinement:kernel", summary)]
    elif best_effort:
        detail = f"{summary}; missing: {'; '.join(missing)}"
        checks = [warn("confinement:kernel", detail, _KERNEL_FIX, required=True)]
    else:
        detail = f"servers will not start: {'; '.join(missing)}"
        checks = [fail("confinement:kernel", detail, f"{_KERNEL_FIX}; or {_BEST_EFFORT}")]
    if root_warning := features.root_process_cap_warning():
        checks.append(warn("confinement:processes", root_warning, "run as an ordinary user"))
    with tempfile.TemporaryDirectory(prefix="ironcurtain-doctor-") as sandbox:
        for spec in server_specs(facts.config, Path(sandbox)):
            name = f"confinement:{spec.name}"
            if spec.remote:  # not a process here: nothing for the kernel to confine
                detail = "a remote server: kernel confinement does not apply, only the policy"
                checks.append(warn(name, detail, "run the server locally (command) to confine it"))
                continue
            if spec.argv is not None:  # a declared server: its own profile, or none
                checks.append(_declared(name, facts.config.mcp_servers.get(spec.name)))
                continue
            try:
                plan = plan_for(spec.name, list(spec.args))
            except (ConfinementRefused, ProfileError) as exc:
                fix = "narrow allowedDirectories (no home folder, no credential folder)"
                checks.append(fail(name, str(exc), fix))
                continue
            checks.append(ok(name, describe_plan(plan).replace(sandbox, "$SANDBOX")))
    return checks


def _declared(name: str, declared: Any) -> Check:
    """A declared server is confined only by the profile its entry names (if it names one)."""
    from appliance.confinement.profile import ProfileError, load_profile, profile_from_data

    server = name.removeprefix("confinement:")
    where = getattr(declared, "confinement", None)
    if where is None:
        detail = "a declared server without a confinement profile: it runs with your rights"
        fix = f"give mcpServers.{server} a 'confinement' profile (docs/confinement.md)"
        return warn(name, detail, fix)
    try:
        if isinstance(where, str):
            load_profile(server, Path(where).expanduser())
        else:
            profile_from_data(where, f"mcpServers.{server}.confinement")
    except ProfileError as exc:
        return fail(name, f"the server will not start: {exc}", "correct the profile")
    shown = where if isinstance(where, str) else "inline"
    return ok(name, f"confined by its declared profile ({shown}); applied at its start")


_KERNEL_FIX = (
    "use Linux 6.12+ with Landlock enabled (lsm=...,landlock), seccomp and user namespaces"
)


_BEST_EFFORT = 'set "confinement": "best-effort" in config.json to run with less (audited)'


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of nested task-group errors: the one that says what happened."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
