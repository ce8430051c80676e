"""A server's confinement profile: the data file next to the server, and its expansion to paths.

``servers/NAME/confinement.json`` (the shape a user-declared server will use)::

    {"roots": {"from": "positional" | "--option", "default": "cwd" | "none"},
     "read": ["$INTERPRETER", "$SYSTEM_LIBS", ...],   # folders/files: read
     "write": ["$ROOTS", "/dev/null"],                 # read, create, change, remove beneath
     "execute": ["$GIT"],                              # programs it may start (none: [])
     "network": {"connect_tcp": [443],                 # [] = no network at all
                 "any_port_with": "--test-flag"},      # optional: a test-only flag widens it
     "private_tmp": true,                              # its own TMPDIR, writable
     "shell": "servers.git.far_side",                  # optional: what /bin/sh runs (shell.py)
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
from typing import Any, NamedTuple

from appliance.confinement import symbols
from appliance.confinement.shell import SHELL_MODULES
from appliance.errors import ConfinementError

__all__ = [
    "Limits",
    "Plan",
    "Profile",
    "ProfileError",
    "load_profile",
    "profile_from_data",
    "profile_path",
]

_MIB = 1024 * 1024


class ProfileError(ConfinementError, ValueError):
    """A profile file is missing or wrong; the message names the file, field and value."""


# Named tuples checked by hand, not pydantic models or dataclasses: ``serve`` confines before
# anything else runs, and those would cost every server start ~70 ms (pydantic's import) or a
# millisecond per class.


class Roots(NamedTuple):
    from_: str | None = None  # "positional", "--base-dir", or None
    default: str = "none"  # "cwd": no root in the arguments means the working folder
    # The server's options that take a separate value, so "positional" skips their values.
    value_options: tuple[str, ...] = ()


class Network(NamedTuple):
    connect_tcp: tuple[int, ...] = ()
    # A test-only server flag under which any TCP port may be connected to (fetch's
    # --allow-private-addresses, for local test sites on ephemeral ports). Warned about.
    any_port_with: str | None = None


class Limits(NamedTuple):
    address_space_mib: int = 2048
    cpu_seconds: int = 3600
    processes: int = 64
    file_size_mib: int = 1024
    open_files: int = 1024

    def rlimits(self) -> dict[int, int]:
        return {
            resource.RLIMIT_AS: self.address_space_mib * _MIB,
            resource.RLIMIT_CPU: self.cpu_seconds,
            resource.RLIMIT_NPROC: self.processes,
            resource.RLIMIT_FSIZE: self.file_size_mib * _MIB,
            resource.RLIMIT_NOFILE: self.open_files,
            resource.RLIMIT_CORE: 0,
        }


_LIMIT_MINIMUM = {
    "address_space_mib": 64,
    "cpu_seconds": 1,
    "processes": 1,
    "file_size_mib": 1,
    "open_files": 16,
}


class Profile(NamedTuple):
    roots: Roots = Roots()
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    execute: tuple[str, ...] = ()
    network: Network = Network()
    private_tmp: bool = False
    limits: Limits = Limits()
    shell: str | None = None


class Plan(NamedTuple):
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
    shell: str | None = None


class _Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"field {where}: {message}")


def _object(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where or "(top)", f"expected an object, got {value!r}")
    for key in value:
        if key not in keys:
            raise _Invalid(f"{where}.{key}".lstrip("."), "unknown field")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(where, f"expected a list of strings, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _Invalid(f"{where}.{i}", f"expected a string, got {item!r}")
    return tuple(value)


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(where, f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _optional_string(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Invalid(where, f"expected a string, got {value!r}")
    return value


def _parse(data: Any) -> Profile:
    top = _object(data, "", Profile._fields)
    roots = _object(top.get("roots", {}), "roots", ("from", "default", "value_options"))
    if roots.get("default", "none") not in ("cwd", "none"):
        raise _Invalid("roots.default", f"expected 'cwd' or 'none', got {roots['default']!r}")
    network = _object(top.get("network", {}), "network", ("connect_tcp", "any_port_with"))
    ports = network.get("connect_tcp", [])
    if not isinstance(ports, list):
        raise _Invalid("network.connect_tcp", f"expected a list of ports, got {ports!r}")
    limits = _object(top.get("limits", {}), "limits", tuple(_LIMIT_MINIMUM))
    if not isinstance(top.get("private_tmp", False), bool):
        raise _Invalid("private_tmp", f"expected true or false, got {top['private_tmp']!r}")
    shell = _optional_string(top.get("shell"), "shell")
    if shell is not None and shell not in SHELL_MODULES:
        raise _Invalid("shell", f"{shell!r} is not one of {', '.join(sorted(SHELL_MODULES))}")
    if shell is not None and not top.get("private_tmp", False):
        raise _Invalid("shell", "needs private_tmp (the launcher is written there)")
    return Profile(
        roots=Roots(
            _optional_string(roots.get("from"), "roots.from"),
            roots.get("default", "none"),
            _strings(roots.get("value_options", []), "roots.value_options"),
        ),
        read=_strings(top.get("read", []), "read"),
        write=_strings(top.get("write", []), "write"),
        execute=_strings(top.get("execute", []), "execute"),
        network=Network(
            tuple(_integer(p, f"network.connect_tcp.{i}", 1, 65535) for i, p in enumerate(ports)),
            _optional_string(network.get("any_port_with"), "network.any_port_with"),
        ),
        private_tmp=top.get("private_tmp", False),
        limits=Limits(
            **{
                name: _integer(limits[name], f"limits.{name}", low, 2**40)
                for name, low in _LIMIT_MINIMUM.items()
                if name in limits
            }
        ),
        shell=shell,
    )


def profile_path(server: str) -> str:
    if not server.isidentifier():
        raise ProfileError(f"{server!r} is not a server name")
    return os.path.join(symbols.bundle_root(), "servers", server, "confinement.json")


def load_profile(server: str, path: str | os.PathLike[str] | None = None) -> Profile:
    path = path or profile_path(server)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read())
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: no confinement profile for server {server!r}") from exc
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: not readable JSON: {exc}") from exc
    try:
        return _parse(data)
    except _Invalid as exc:
        raise ProfileError(f"{path}: {exc}") from None


def profile_from_data(data: Any, where: str) -> Profile:
    """A profile given inline (a declared server's ``confinement`` object in config.json)."""
    try:
        return _parse(data)
    except _Invalid as exc:
        raise ProfileError(f"{where}: {exc}") from None


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
        shell=profile.shell,
    )
