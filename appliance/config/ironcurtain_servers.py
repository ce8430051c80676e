"""IronCurtain's ``mcp-servers.json``, read as declared servers beside ``mcpServers``.

IronCurtain (github.com/provos/ironcurtain) keeps its MCP servers in ``mcp-servers.json``, a flat
object ``{NAME: {description, command, args, env, sandbox}}`` (its ``src/config/MCPServerConfig``;
the file ships in its package's ``config/`` folder and users add their servers there). Copied to
the appliance home (``~/.ironcurtain/mcp-servers.json``) it is read here, as it is:

- every entry is validated exactly like a ``config.json`` ``mcpServers`` entry
  (:class:`~appliance.config.servers.DeclaredServer`), and a bad one is a ``ConfigError`` naming
  the file, the field and the value;
- keys starting with ``_`` are IronCurtain's comments (``_comment``) and are skipped;
- ``sandbox`` is IronCurtain's sandbox-runtime setting; it is not translated into a kernel
  confinement profile (the two formats do not say the same things), so a server it asked to
  sandbox runs unconfined unless the entry also names a ``confinement`` — said once, and the
  session's weakening list names every unconfined server anyway;
- entries named like a shipped server (filesystem, git, fetch, github) are IronCurtain's own
  TypeScript servers, started from paths inside its package: the shipped server of that name
  serves it here (replace one in ``config.json``'s ``mcpServers`` instead), said once;
- a name in both files: ``config.json`` wins, said once.

The file holds credentials (``env``), so it is a protected path (``PROTECTED_IN_HOME``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from appliance.config.loading import ConfigError
from appliance.config.models import Config
from appliance.config.servers import BUILTIN_SERVERS, DeclaredServer, ServerDeclarationError
from appliance.config.servers import check_name as _check_name

__all__ = ["FILE_NAME", "MAX_BYTES", "read_ironcurtain_servers", "with_ironcurtain_servers"]

FILE_NAME = "mcp-servers.json"
# A servers file is a few kilobytes; anything near this is not one.
MAX_BYTES = 1 << 20

log = logging.getLogger("ironcurtain.config")
_said: set[tuple[str, str]] = set()


def with_ironcurtain_servers(config: Config, home: Path) -> Config:
    """``config`` with the servers of ``home/mcp-servers.json`` added; ``config.json`` wins."""
    file = home / FILE_NAME
    found = read_ironcurtain_servers(file)
    if not found:
        return config
    for name in sorted(found.keys() & config.mcp_servers.keys()):
        _say_once(file, f"clash:{name}", f"{name} is declared in config.json's mcpServers too; "
                  "that entry is used and this one is ignored")  # fmt: skip
    return config.model_copy(update={"mcp_servers": {**found, **config.mcp_servers}})


def read_ironcurtain_servers(file: Path) -> dict[str, DeclaredServer]:
    """The file's servers by name (``{}`` when there is no file); ``ConfigError`` if it is bad."""
    data = _read_object(file)
    servers: dict[str, DeclaredServer] = {}
    shipped = sorted(name for name in data if name in BUILTIN_SERVERS)
    if shipped:
        _say_once(file, "shipped", f"{', '.join(shipped)}: IronCurtain's own servers; the "
                  "appliance's shipped servers serve these names (to replace one, declare it "
                  "in config.json's mcpServers)")  # fmt: skip
    for name, entry in data.items():
        if name in BUILTIN_SERVERS:
            continue
        servers[name] = _entry(file, name, entry)
    return servers


def _read_object(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the file: {exc}", file=file) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{file}: larger than {MAX_BYTES} bytes; not a servers file", file=file)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{file}: not valid JSON: {exc}", file=file) from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply; not a servers file", file=file) from None
    if not isinstance(data, dict):
        found = type(data).__name__
        raise ConfigError(f"{file}: expected an object of servers, found {found}", file=file)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _entry(file: Path, name: str, entry: Any) -> DeclaredServer:
    try:
        _check_name(name)
    except ServerDeclarationError:
        raise ConfigError(
            f"{file}: {name!r} is not a usable server name (letters, digits, '-' and '_', "
            "starting with a letter, no '__')",
            file=file, field=name, value=name,
        ) from None  # fmt: skip
    if not isinstance(entry, Mapping):
        shown = json.dumps(entry)[:80]
        raise ConfigError(
            f"{file}: {name} = {shown}: expected an object with 'command'",
            file=file, field=name, value=shown,
        )  # fmt: skip
    fields = {k: v for k, v in entry.items() if not k.startswith("_") and k != "sandbox"}
    if entry.get("sandbox", True) is not False and "confinement" not in fields:
        message = (
            f"{name}: IronCurtain sandboxes it (its 'sandbox' is not false); that setting is "
            "not translated, so the server runs unconfined unless the entry names a "
            "'confinement' profile (docs/confinement.md)"
        )
        _say_once(file, f"sandbox:{name}", message)
    try:
        return DeclaredServer.model_validate_json(json.dumps(fields))
    except ValidationError as exc:
        raise _explain(file, name, exc) from None


def _explain(file: Path, name: str, exc: ValidationError) -> ConfigError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in (name, *first["loc"]))
    value = json.dumps(first.get("input"), default=str)[:80]
    if any(word in field.lower() for word in ("env", "header")) or "@" in value:
        value = "****"  # credentials (env, headers, a URL's user info) are never echoed
    unknown = "unknown field " if first["type"] == "extra_forbidden" else ""
    message = f"{file}: {unknown}{field} = {value}: {first['msg']}"
    return ConfigError(message, file=file, field=field, value=value)


def _say_once(file: Path, key: str, message: str) -> None:
    if (str(file), key) not in _said:
        _said.add((str(file), key))
        log.warning("%s: %s", file, message)
