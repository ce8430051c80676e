"""One agent container, locked down, and everything it leaves behind cleaned up.

The container gets no network (`network_mode="none"`: only `lo`), the host user's uid and gid
(files in the workspace stay the user's), or a fixed unprivileged uid when the host user is root
(see `ownership.py`), no capabilities, `no-new-privileges`,
a read-only root filesystem with tmpfs for /tmp and HOME, memory, pids and CPU limits, the session
sandbox at its own host path (read-write; the working directory; the git metadata it held at the
start read-only, see `git_guard.py`) and the runtime folder as `/run/ironcurtain` (read-only: the
two sockets, the CA certificate, the MCP configuration).

Labels `ironcurtain.session` and `ironcurtain.pid` let the next start find a container whose
session process died (crash, SIGKILL) and remove it; runtime folders are named with the owning
pid for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.docker.adapters import HOME, RUN_DIR, AgentLaunch, mcp_client_config
from appliance.docker.ownership import agent_user
from appliance.errors import ApplianceError
from appliance.host.processes import pid_alive

__all__ = [
    "ContainerSpec",
    "DockerUnavailable",
    "RuntimeDir",
    "create_container",
    "docker_client",
    "remove_container",
    "remove_stale",
]

LABEL_SESSION = "ironcurtain.session"
LABEL_PID = "ironcurtain.pid"
_RUNTIME_PREFIX = "ironcurtain-run-"


class DockerUnavailable(ApplianceError):
    """No Docker engine answers (operator error; the message says how to start one)."""


def docker_client() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(
            f"no Docker engine answers: {_how_to_start()}\n  (the engine client said: {exc})"
        ) from exc
    return client


def _how_to_start() -> str:
    import platform

    if platform.system() == "Darwin":
        return "start Docker Desktop (or `colima start`) and retry"
    if platform.system() == "Windows":
        return "start Docker Desktop and retry"
    return (
        "start the engine (`sudo systemctl start docker`, or `sudo dockerd &` without systemd) "
        "and check that you may use it (`docker info`; the `docker` group), then retry"
    )


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    launch: AgentLaunch
    workspace: Path
    runtime: Path
    session_id: str
    user: str = field(default_factory=lambda: "{}:{}".format(*agent_user()))
    memory: str = "2g"
    pids_limit: int = 512
    cpus: float = 2.0
    tty: bool = False
    tmpfs_size: str = "512m"
    # The agent's own state kept between runs (agent_state.py), mounted at ~/<state_mount>
    # (the adapter's `state_folder`: Claude Code's ~/.claude, Codex's ~/.codex).
    agent_state: Path | None = None
    state_mount: str = ".claude"
    # Git metadata that was in the workspace before the agent ran (git_guard.py): mounted
    # read-only over the read-write workspace, at the same paths.
    read_only: tuple[Path, ...] = ()

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for `containers.create`: every restriction in one place."""
        tmpfs_opts = f"rw,nosuid,nodev,size={self.tmpfs_size},mode=1777"
        uid, _, gid = self.user.partition(":")
        home_opts = f"rw,nosuid,nodev,size={self.tmpfs_size},mode=0700,uid={uid},gid={gid or uid}"
        return {
            "image": self.image,
            "command": self.launch.command,
            "environment": dict(self.launch.env),
            "user": self.user,
            "network_mode": "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            # HOME is the agent user's (/tmp is shared, sticky): the image's folder is root's.
            "tmpfs": {"/tmp": tmpfs_opts, HOME: home_opts},  # noqa: S108 - in the container
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
            "pids_limit": self.pids_limit,
            "nano_cpus": int(self.cpus * 1e9),
            "ipc_mode": "private",
            # An init (the engine's docker-init, tini) as PID 1 reaps orphans: agents spawn
            # shells all day, and zombies would pile up against the pids limit.
            "init": True,
            "volumes": {
                # Same path inside as outside: a path the agent passes to a tool (served on the
                # host) names the same file it sees in its own shell.
                str(self.workspace): {"bind": str(self.workspace), "mode": "rw"},
                str(self.runtime): {"bind": RUN_DIR, "mode": "ro"},
                **{str(path): {"bind": str(path), "mode": "ro"} for path in self.read_only},
                **(
                    {str(self.agent_state): {"bind": f"{HOME}/{self.state_mount}", "mode": "rw"}}
                    if self.agent_state is not None
                    else {}
                ),
            },
            "working_dir": str(self.workspace),
            "labels": {LABEL_SESSION: self.session_id, LABEL_PID: str(os.getpid())},
            "name": f"ironcurtain-{self.session_id}",
            "tty": self.tty,
            "stdin_open": self.tty,
            "detach": True,
        }


def create_container(client: Any, spec: ContainerSpec) -> Any:
    return client.containers.create(**spec.run_kwargs())


def remove_container(container: Any) -> None:
    """Kill and remove; a container already gone is fine."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.remove(force=True)


def remove_stale(client: Any) -> list[str]:
    """Remove containers and runtime folders whose session process is gone; return their names."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL_PID}):
        owner = container.labels.get(LABEL_PID, "")
        if not owner.isdigit() or not pid_alive(int(owner)):
            removed.append(container.name)
            remove_container(container)
    for folder in Path(tempfile.gettempdir()).glob(f"{_RUNTIME_PREFIX}*-*"):
        owner = folder.name[len(_RUNTIME_PREFIX) :].split("-")[0]
        if owner.isdigit() and not pid_alive(int(owner)) and _mine(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def _mine(folder: Path) -> bool:
    """Ours, or lent by us to the agent's uid (a root host; see `ownership.py`)."""
    owners = {os.getuid(), agent_user()[0]}
    try:
        return folder.lstat().st_uid in owners
    except OSError:
        return False


class RuntimeDir:
    """The host side of `/run/ironcurtain`: a private (0700) temporary folder, short enough for
    Unix socket paths (108 bytes), named with our pid so a crashed session's folder is found."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{_RUNTIME_PREFIX}{os.getpid()}-"))
        os.chmod(self.path, 0o700)
        self.gate_socket = self.path / "mcp.sock"
        self.proxy_dir = self.path / "proxy"

    def write_files(self, launch: AgentLaunch, ca_cert: Path | None) -> None:
        """The MCP configuration, the CA certificate (a copy: never the CA's folder or key) and
        the HOME seed. All readable by the container user, who owns them when uids match."""
        (self.path / "mcp.json").write_text(mcp_client_config())
        if ca_cert is not None:
            shutil.copyfile(ca_cert, self.path / "ca.pem")
        home = self.path / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        for name, content in launch.home_files.items():
            # A path under HOME of plain names ("a/b.toml"): nothing absolute, empty, "." or "..".
            parts = name.split("/")
            if not all(part and part not in (".", "..") for part in parts):
                raise ValueError(f"home file {name!r} must be a relative path of plain names")
            target = home.joinpath(*parts)
            for depth in range(1, len(parts)):
                home.joinpath(*parts[:depth]).mkdir(mode=0o700, exist_ok=True)
            target.write_text(content)
            target.chmod(0o600)

    @staticmethod
    def lend_path(path: Path) -> None:
        """Make everything in the folder the agent's (a root host runs the agent unprivileged:
        it must still reach its sockets, certificate and HOME seed). Call once the sockets exist."""
        uid, gid = agent_user()
        if uid == os.getuid():
            return
        for folder, subfolders, files in os.walk(path):
            for name in [".", *subfolders, *files]:
                os.lchown(Path(folder) / name, uid, gid)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> RuntimeDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def describe(spec: ContainerSpec) -> str:
    """A one-line summary for the operator and the session log (never the environment)."""
    kwargs = spec.run_kwargs()
    keys = ("image", "user", "network_mode", "read_only", "mem_limit", "nano_cpus")
    shown = {k: kwargs[k] for k in keys}
    return json.dumps(shown)
