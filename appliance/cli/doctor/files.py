"""Permissions of the files that hold secrets and policy, and free disk space for the audit log."""

from __future__ import annotations

import os
import shutil

from appliance.cli.doctor.base import LOW_FREE_BYTES, MIN_FREE_BYTES, Check, Facts, fail, ok, warn


def check_permissions(facts: Facts) -> list[Check]:
    """Whoever can write the home's policy files decides what the agent may do."""
    from policy.api import POLICY_FILES

    paths = facts.paths
    watched = (
        paths.home,
        paths.generated,
        *(paths.generated / name for name in (*POLICY_FILES, "test-scenarios.json")),
        paths.constitution,
        paths.user_constitution,
        paths.sessions,
    )
    loose = []
    for path in watched:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            loose.append(f"{path} (mode {oct(info.st_mode & 0o777)}, uid {info.st_uid})")
    if loose:
        detail = "writable by others or not yours: " + "; ".join(loose)
        return [fail("permissions", detail, "chmod go-w (and chown) each path named")]
    return [ok("permissions", f"{paths.home} and its policy files are yours alone to write")]


def check_disk(facts: Facts) -> list[Check]:
    folder = facts.paths.sessions
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    detail = f"{free / 2**30:.1f} GiB free in {folder}"
    fix = "free space, or `ironcurtain sessions clean --older-than 30d`"
    if free < MIN_FREE_BYTES:
        return [fail("disk", detail + " (a session's audit log needs room)", fix)]
    if free < LOW_FREE_BYTES:
        return [warn("disk", detail, fix, required=True)]
    return [ok("disk", detail)]
