"""Is a folder fit to be an agent's workspace? Checked before anything is mounted or served.

A workspace is handed to the agent whole: in Docker mode its own shell reads and writes every file
in it, with no policy in between. So the folder must be a plain directory the user owns, and
neither it, nor anything under it, nor anything above it may be one of the folders whose contents
give more than "work on these files": the user's home (shell start-up files, every credential),
`/` and the system folders, the appliance's own home (config with the real key, the proxy's CA
key, policy, audit logs), a container engine's folders (its API socket is host root), and the
credential folders. A workspace *inside* the user's home (a project folder) is the normal case.

Allowlist shape: after resolving symlinks and `..`, the workspace must be an existing directory
owned by this user, not a mount point, not the shared temporary folder, with no socket, device
or FIFO among its entries, no symlink among its entries that leads to a refused folder, and no
mount point below it (a bind of home into a project folder). `check_workspace` raises
`WorkspaceRefused`, whose message says why and what to use instead.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

__all__ = [
    "JOB_WORKSPACES",
    "WorkspaceRefused",
    "check_workspace",
    "refused_folders",
    "require_workspace",
]

# The system's own folders: a workspace may be none of these, contain one, or sit inside one.
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/srv", "/sys", "/usr", "/var", "/opt", "/snap", "/nix", "/System",
    "/Library", "/private/etc",
)  # fmt: skip
# Container engines and runtimes: their sockets and state are the host's root.
RUNTIME_FOLDERS = (
    "/var/run", "/run", "/var/lib/docker", "/var/lib/containerd", "/run/containerd",
    "/var/lib/containers", "/run/podman", "/run/user", "/var/snap/docker",
)  # fmt: skip
# Relative to the user's home.
HOME_CREDENTIALS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".kube", ".docker", ".config/docker",
    ".local/share/containers", ".config/containers", ".netrc", ".npmrc", ".pypirc",
    ".git-credentials", ".config/gh", ".password-store", ".terraform.d", ".ironcurtain",
    "Library/Containers/com.docker.docker", ".colima", ".lima", ".rd",
)  # fmt: skip
_ADVICE = (
    "use a dedicated folder for the agent's work (e.g. `mkdir ~/agent-work/myproject`), or leave "
    "--sandbox out to get a fresh folder for the session"
)


class WorkspaceRefused(ApplianceError, ValueError):
    """The folder may not be a workspace (operator error: the message says why and what to do).
    `why` is the reason alone, for callers that choose another folder instead of stopping."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


def refused_folders(appliance_home: Path, home: Path | None = None) -> list[tuple[Path, str]]:
    """Every folder a workspace may not be, contain, or (except home) sit inside: (path, why)."""
    home = home if home is not None else Path.home()
    found = [(appliance_home, "the appliance's home (its config holds the real API key)")]
    found += [(Path(p), "a container engine's folder") for p in RUNTIME_FOLDERS]
    found += [(Path(p), "a system folder") for p in SYSTEM_FOLDERS]
    found += [(home / p, "a credential folder") for p in HOME_CREDENTIALS]
    found += [
        (path, "the appliance's own program files: the host loads code from it")
        for path in program_folders()
    ]
    return [(_resolved(path), why) for path, why in found]


def program_folders() -> list[Path]:
    """Where the code this process runs comes from: our packages (the source tree, the
    site-packages folder or the unpacked executable), the interpreter's installation and the
    virtual environment. A workspace there, around it or in it would let the agent edit the
    code the host runs next."""
    from appliance.host.bundle import bundle_root

    found = [bundle_root(), Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    if getattr(sys, "frozen", False):
        found.append(Path(sys.executable).parent)
    # Every folder Python imports from: a PYTHONPATH entry (PYTHONPATH=. makes the current
    # folder one), '' (python -m run here), a user site-packages. A module the agent wrote there
    # would shadow one the host imports next.
    for entry in sys.path:
        folder = Path(os.path.abspath(entry))  # '' is the current folder
        if folder != Path("/") and folder.is_dir():
            found.append(folder)
    return list(dict.fromkeys(found))


def check_workspace(
    path: Path,
    appliance_home: Path,
    *,
    protected: Iterable[str] = (),
    home: Path | None = None,
    own_sandboxes: Path | None = None,
    owners: tuple[int, ...] | None = None,
) -> Path:
    """The workspace, resolved, or `WorkspaceRefused`. `protected` are extra paths that must not
    be inside (the policy's protected paths); `own_sandboxes` is the sessions folder, whose
    `<id>/sandbox` folders are the appliance's own fresh workspaces and allowed."""
    given = Path(os.path.expanduser(str(path)))
    resolved = _resolved(given.absolute())
    user_home = _resolved(home if home is not None else Path.home())
    if not resolved.exists() and not resolved.is_symlink():
        _create(given, resolved, appliance_home, user_home)
    info = resolved.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(given, "is not a directory")
    if info.st_uid not in (owners if owners is not None else (os.getuid(),)):
        raise _refuse(given, f"is owned by uid {info.st_uid}, not by you (uid {os.getuid()})")
    if resolved == _resolved(Path(tempfile.gettempdir())):
        raise _refuse(given, "is the shared temporary folder (every program's files and sockets)")
    if resolved == Path("/") or _within(user_home, resolved):
        raise _refuse(given, f"is or contains your home folder {user_home}")
    # A session's own `sandbox` folder sits inside the appliance's home by design; every other
    # check still applies to it (a resumed session's folder holds what its agent left).
    own = _is_own_sandbox(resolved, own_sandboxes) or _is_job_workspace(resolved, appliance_home)
    for folder, why in refused_folders(appliance_home, user_home):
        if own and folder == _resolved(appliance_home) and _within(resolved, folder):
            continue
        if _within(resolved, folder) or _within(folder, resolved):
            raise _refuse(given, f"is, contains or is inside {folder} ({why})")
    for pattern in protected:
        target = Path(pattern.split("*")[0]).parent if "*" in pattern else Path(pattern)
        if _within(_resolved(target), resolved):
            raise _refuse(given, f"contains the protected path {pattern}")
    if os.path.ismount(resolved) or resolved in _mount_points():
        raise _refuse(given, "is a mount point")
    _check_entries(given, resolved, appliance_home, user_home)
    return resolved


def require_workspace(path: Path | None, paths: Any) -> Path | None:
    """For a command's `--sandbox`: None stays None (a fresh session folder); a refused folder
    ends the command with exit 2 and the reason, before anything is opened."""
    if path is None:
        return None
    try:
        return check_workspace(path, paths.home, protected=paths.protected_patterns(),
                               own_sandboxes=paths.sessions)  # fmt: skip
    except WorkspaceRefused as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _create(given: Path, resolved: Path, appliance: Path, home: Path) -> None:
    """A folder that does not exist yet is made (0700), unless it would sit inside a refused one;
    the full check then runs on what was made."""
    own = _is_job_workspace(resolved, appliance)
    for folder, why in refused_folders(appliance, home):
        if _within(resolved, folder) and not (own and folder == _resolved(appliance)):
            raise _refuse(given, f"would be inside {folder} ({why})")
    try:
        resolved.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        raise _refuse(given, f"does not exist and cannot be made ({exc.strerror})") from exc


def _check_entries(given: Path, root: Path, appliance: Path, home: Path) -> None:
    """No special file and no dangerous symlink at the top level; no mount point anywhere below."""
    refused = refused_folders(appliance, home)
    with os.scandir(root) as entries:
        for entry in entries:
            mode = entry.stat(follow_symlinks=False).st_mode
            if _special(mode):
                raise _refuse(given, f"holds {entry.name!r}, a socket, device or pipe")
            if stat.S_ISLNK(mode):
                target = _resolved(Path(entry.path))
                if (
                    target == Path("/")
                    or _within(home, target)
                    or any(_within(target, f) or _within(f, target) for f, _ in refused)
                ):
                    raise _refuse(given, f"holds {entry.name!r}, a link to {target}")
    for mount in _mount_points():
        if mount != root and _within(mount, root):
            raise _refuse(given, f"has a mount point inside it: {mount}")


def _mount_points() -> list[Path]:
    """Every mount point this process sees (Linux: /proc/self/mountinfo, which also shows bind
    mounts; elsewhere none are listed and the top-level checks stand alone)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    points = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:  # octal escapes (\040 for a space) as the kernel writes them
            points.append(Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])))
    return points


def _special(mode: int) -> bool:
    return any(test(mode) for test in (stat.S_ISSOCK, stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO))


# A scheduled job's own workspace: ``<appliance home>/job-workspaces/<job name>``, made by
# ``ironcurtain job add`` (appliance/daemon/jobs.py); like a session's sandbox, inside the home by
# design, and every other check still applies to it.
JOB_WORKSPACES = "job-workspaces"


def _is_job_workspace(resolved: Path, appliance_home: Path) -> bool:
    parts, base = resolved.parts, (_resolved(appliance_home) / JOB_WORKSPACES).parts
    return len(parts) == len(base) + 1 and parts[: len(base)] == base


def _is_own_sandbox(resolved: Path, sessions: Path | None) -> bool:
    if sessions is None:
        return False
    parts = resolved.parts
    base = _resolved(sessions).parts
    return len(parts) == len(base) + 2 and parts[: len(base)] == base and parts[-1] == "sandbox"


def _within(inner: Path, outer: Path) -> bool:
    """`inner` is `outer` or below it, compared by path components (never by string prefix)."""
    return inner.parts[: len(outer.parts)] == outer.parts


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _refuse(given: Path, why: str) -> WorkspaceRefused:
    return WorkspaceRefused(f"the workspace {given} {why}; {_ADVICE}", f"{given} {why}")
