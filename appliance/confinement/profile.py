"""A server's confinement profile: the data file next to the server, and its expansion to paths.

``servers/NAME/confinement.json`` (the shape a user-declared server will use)::

    {"roots": {"from": "positional" | "--option", "default": "cwd" | "none"},
     "read": ["$INTERPRETER", "$SYSTEM_LIBS", ...],   # folders/files: read
     "write": ["$ROOTS", "/dev/null"],                 # read, create, change, remove beneath
     "execute": ["$GIT"],                              # programs it may start (none: [])
     "network": {"connect_tcp": [443],                 # [] = no network at all
                 "any_port_with": "--test-flag"},      # optional: a test-only flag widens it
     "private_tmp": true,                              # its own TMPDIR, writable
     "limits": {"address_space_mib": 2048, "cpu_seconds": 3600, "processes": 128,
                "file_size_mib": 1024, "open_files": 1024}}

Symbols are expanded here (``symbols``); anything else must be an absolute path. A path that does
not exist is left out (a system folder this distribution lacks; a root the server itself will
then refuse with its own message).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.confinement import symbols

__all__ = ["Limits", "Plan", "Profile", "ProfileError", "load_profile", "profile_path"]

_MIB = 1024 * 1024


class ProfileError(ValueError):
    """A profile file is missing or wrong; the message names the file, field and value."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Roots(_Model):
    from_: str | None = Field(None, alias="from")  # "positional", "--base-dir", or absent
    default: Literal["cwd", "none"] = "none"
    # The server's options that take a separate value, so "positional" skips their values.
    value_options: tuple[str, ...] = ()


class Network(_Model):
    connect_tcp: tuple[int, ...] = ()
    # A test-only server flag under which any TCP port may be connected to (fetch's
    # --allow-private-addresses, for local test sites on ephemeral ports). Warned about.
    any_port_with: str | None = None


class Limits(_Model):
    address_space_mib: int = Field(2048, ge=64)
    cpu_seconds: int = Field(3600, ge=1)
    processes: int = Field(64, ge=1)
    file_size_mib: int = Field(1024, ge=1)
    open_files: int = Field(1024, ge=16)

    def rlimits(self) -> dict[int, int]:
        return {
            resource.RLIMIT_AS: self.address_space_mib * _MIB,
            resource.RLIMIT_CPU: self.cpu_seconds,
            resource.RLIMIT_NPROC: self.processes,
            resource.RLIMIT_FSIZE: self.file_size_mib * _MIB,
            resource.RLIMIT_NOFILE: self.open_files,
            resource.RLIMIT_CORE: 0,
        }


class Profile(_Model):
    roots: Roots = Roots()
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    execute: tuple[str, ...] = ()
    network: Network = Network()
    private_tmp: bool = False
    limits: Limits = Limits()


class Plan(_Model):
    """A profile expanded for one start: concrete, absolute, existing paths."""

    server: str
    roots: tuple[str, ...]
    read: tuple[str, ...]
    write: tuple[str, ...]
    execute: tuple[str, ...]
    connect_tcp: tuple[int, ...]
    any_tcp_port: bool
    private_tmp: str | None
    limits: Limits


def profile_path(server: str) -> Path:
    from appliance.bundle import resource_path

    return resource_path(f"servers/{server}/confinement.json")


def load_profile(server: str, path: Path | None = None) -> Profile:
    path = path or profile_path(server)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: no confinement profile for server {server!r}") from exc
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: not readable JSON: {exc}") from exc
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"{path}: field {where}: {first['msg']}") from exc


def roots_from_args(profile: Profile, server_args: list[str], cwd: str) -> list[str]:
    """The folders the server's own arguments name as its roots (how is in the profile)."""
    spec, found = profile.roots.from_, list[str]()
    if spec == "positional":
        found = _positionals(server_args, set(profile.roots.value_options))
    elif spec:
        for i, arg in enumerate(server_args):
            if arg == spec and i + 1 < len(server_args):
                found.append(server_args[i + 1])
            elif arg.startswith(spec + "="):
                found.append(arg.split("=", 1)[1])
    if not found and profile.roots.default == "cwd":
        found = [cwd]
    return [os.path.realpath(os.path.join(cwd, p)) for p in found]


def _positionals(args: list[str], takes_value: set[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def expand(server: str, profile: Profile, server_args: list[str], tmp: str | None) -> Plan:
    """Turn the profile's symbols and paths into the concrete grant for this start."""
    cwd = os.getcwd()
    # A root that is not a folder is left out: the server then fails on it with its own message.
    roots = [r for r in roots_from_args(profile, server_args, cwd) if os.path.isdir(r)]
    table = symbols.table(roots, tmp)

    def paths(field: str, entries: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for entry in entries:
            if entry.startswith("$"):
                if entry not in table:
                    raise ProfileError(f"{server}: {field}: unknown symbol {entry!r}")
                out += table[entry]
            elif os.path.isabs(entry):
                out.append(entry)
            else:
                raise ProfileError(f"{server}: {field}: {entry!r} is neither a symbol nor absolute")
        return tuple(dict.fromkeys(p for p in out if p == tmp or os.path.exists(p)))

    return Plan(
        server=server,
        roots=tuple(roots),
        read=paths("read", profile.read),
        write=paths("write", profile.write),
        execute=paths("execute", profile.execute),
        connect_tcp=profile.network.connect_tcp,
        any_tcp_port=bool(profile.network.any_port_with)
        and profile.network.any_port_with in server_args,
        private_tmp=tmp,
        limits=profile.limits,
    )
