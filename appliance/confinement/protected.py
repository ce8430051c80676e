"""Folders no server may reach, whatever its profile says, and the check that keeps them out.

Landlock only grants; it cannot carve a hole in a granted folder. So a grant that *contains* a
protected folder (a root of ``$HOME`` contains ``~/.ssh`` and usually the appliance's home) is
refused outright, and the server does not start: a carve-out by listing the other entries of the
folder would be a snapshot that misses files created later, and ``$HOME`` itself holds secrets
as plain files (``~/.netrc``, ``~/.git-credentials``). A grant *inside* a protected folder is
refused too, with two exceptions: a session's own sandbox,
``<appliance home>/sessions/<id>/sandbox`` (granted alone; never its parent, which holds the
session's audit log and escalations), and a scheduled job's own workspace,
``<appliance home>/job-workspaces/<name>`` (never the folder above it, nor ``jobs/``, which
holds the job's policy).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from appliance.errors import ConfinementError

__all__ = ["ConfinementRefused", "check_grants", "check_writes", "protected_folders"]

# Relative to the user's home: keys, credentials and tokens of common tools.
_HOME_SECRETS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".password-store",
    ".local/share/keyrings",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".terraform.d",
    ".vault-token",
)


class ConfinementRefused(ConfinementError):
    """A grant would expose a protected folder: the server must not start."""


def protected_folders(environ: Mapping[str, str] | None = None) -> list[str]:
    """The appliance's home and cache (wherever they are set), and the user's credential folders."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    data_home = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    cache_home = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    found = [
        env.get("IRONCURTAIN_HOME", ""),
        env.get("IRONCURTAIN_CACHE", ""),
        os.path.join(home, ".ironcurtain"),
        os.path.join(data_home, "ironcurtain"),
        os.path.join(cache_home, "ironcurtain"),
        *(os.path.join(home, name) for name in _HOME_SECRETS),
    ]
    return list(dict.fromkeys(os.path.realpath(p) for p in found if p))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _is_session_sandbox(path: str, app_homes: Iterable[str]) -> bool:
    for home in app_homes:
        rel = os.path.relpath(path, home).split("/")
        if ".." in rel:
            continue
        if len(rel) >= 3 and rel[0] == "sessions" and rel[2] == "sandbox":
            return True
        # appliance.host.workspace.JOB_WORKSPACES (this package imports nothing of the host)
        if len(rel) >= 2 and rel[0] == "job-workspaces":
            return True
    return False


def check_grants(grants: Iterable[str], protected: list[str], app_homes: list[str]) -> None:
    """Raise :class:`ConfinementRefused` naming the first grant that reaches a protected folder."""
    for grant in grants:
        real = os.path.realpath(grant)
        # The ones that exist first: they are what the grant would expose today.
        contained = sorted(
            (folder for folder in protected if _inside(folder, real)),
            key=lambda folder: not os.path.lexists(folder),
        )
        if contained:
            more = f" and {len(contained) - 3} more" if len(contained) > 3 else ""
            raise ConfinementRefused(
                f"{grant} contains {', '.join(contained[:3])}{more}, which no server may reach; "
                "give the server a narrower folder"
            )
        for folder in protected:
            if _inside(real, folder) and not _is_session_sandbox(real, app_homes):
                raise ConfinementRefused(
                    f"{grant} is inside {folder}, which no server may reach "
                    "(only a session's own sandbox folder or a job's own workspace is)"
                )


def check_writes(writes: Iterable[str], program: Iterable[str]) -> None:
    """Raise :class:`ConfinementRefused` for a write grant that is, holds or sits inside the code
    the appliance runs (its packages, the interpreter, the virtual environment): every server
    may *read* them, none may change them — a server that did would run as the host next time
    (an ``allowedDirectories`` entry holding the source checkout, say)."""
    code = [os.path.realpath(p) for p in program]
    for grant in writes:
        real = os.path.realpath(grant)
        for folder in code:
            if _inside(real, folder) or _inside(folder, real):
                raise ConfinementRefused(
                    f"{grant} would let the server change {folder}, the appliance's own program "
                    "files; give the server a folder outside them"
                )
