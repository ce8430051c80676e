"""``ironcurtain config``: show the effective settings, or get, set and unset one of them.

Every edit goes through the same pydantic model as loading does: the new file content is
validated first and written atomically only when it passes, so a refused value leaves
``config.json`` byte-identical. Keys are never printed, only masked.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import getpass
import json
import os
import stat
import sys
from typing import Any

from pydantic import BaseModel, SecretStr

from appliance.config.paths import AppPaths, app_paths
from appliance.config.settings import (
    PROVIDER_ENV,
    Config,
    ConfigError,
    config_from_data,
    is_secret_path,
    load_config,
    mask_secret,
    read_raw_config,
    save_config,
    setting_paths,
    to_snake,
    weakening_settings,
)

_ENV_FOR_FIELD = {f"{p}ApiKey": var for p, var in PROVIDER_ENV.items()}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the settings as JSON")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser("show", help="show the effective settings and their sources (default)")
    show.add_argument("--json", action="store_true", help="print the settings as JSON")
    get = sub.add_parser("get", help="print one effective value (keys masked)")
    put = sub.add_parser("set", help="validate and store one value in config.json")
    unset = sub.add_parser("unset", help="remove a value from config.json (back to default)")
    sub.add_parser(
        "migrate",
        help="rewrite an IronCurtain config.json in this appliance's shape (backup kept beside it)",
    )
    for command in (get, put, unset):
        field = command.add_argument(
            "field", help="dotted camelCase name, e.g. resourceBudget.maxSteps"
        )
        field.completion_words = setting_paths()  # read by `ironcurtain completion`
    put.add_argument(
        "value",
        nargs="?",
        help="JSON if it parses (300, true, null, [..]), else a string; "
        "omit for an API key to type it unseen",
    )


def run(args: argparse.Namespace) -> int:
    paths = app_paths()
    try:
        match args.action:
            case "get":
                return _get(paths, args.field)
            case "set":
                return _set(paths, args.field, args.value)
            case "unset":
                return _unset(paths, args.field)
            case "migrate":
                return _migrate(paths)
            case _:
                return _show(paths, as_json=args.json)
    except ConfigError as exc:
        print(f"ironcurtain config: {exc}", file=sys.stderr)
        return 2
    except _UsageError as exc:
        print(f"ironcurtain config: {exc}", file=sys.stderr)
        return 2


class _UsageError(Exception):
    pass


def _show(paths: AppPaths, *, as_json: bool) -> int:
    config = load_config(paths)
    rows = [(p, _display(p, _value_at(config, p)), config.sources[p]) for p in setting_paths()]
    warnings = weakening_settings(config) + _file_mode_warnings(paths)
    if as_json:
        document = {
            "file": str(paths.config_file),
            "fileExists": paths.config_file.exists(),
            "settings": {p: {"value": v, "source": s} for p, v, s in rows},
            "environmentVariables": {
                p: _ENV_FOR_FIELD[p] for p, _, s in rows if s == "environment"
            },
            "warnings": warnings,
        }
        print(json.dumps(document, indent=2))
        return 0
    present = "" if paths.config_file.exists() else " (not present: defaults in use)"
    print(f"config file: {paths.config_file}{present}")
    width = max(len(p) for p, _, _ in rows)
    for path, value, source in rows:
        shown = value if isinstance(value, str) else json.dumps(value)
        where = f"environment: {_ENV_FOR_FIELD[path]}" if source == "environment" else source
        print(f"  {path:<{width}}  {shown}  ({where})")
    for line in warnings:
        print(f"warning: {line}")
    return 0


def _migrate(paths: AppPaths) -> int:
    from appliance.config.ironcurtain import migrate

    if not paths.config_file.exists():
        print(f"no {paths.config_file}: nothing to migrate")
        return 0
    try:
        result = migrate(paths.config_file, config_from_data)
    except (OSError, ValueError) as exc:  # unreadable, or not JSON (ConfigError passes through)
        raise ConfigError(f"{paths.config_file}: {exc}", file=paths.config_file) from None
    if result.backup is None:
        print(f"{paths.config_file} already has this appliance's shape; unchanged")
        return 0
    print(f"migrated {paths.config_file} (the original is {result.backup})")
    for key in result.dropped:
        print(f"  dropped {key}: not supported here")
    return 0


def _file_mode_warnings(paths: AppPaths) -> list[str]:
    try:
        mode = stat.S_IMODE(paths.config_file.stat().st_mode)
    except OSError:
        return []
    if mode & 0o077 == 0:
        return []
    return [
        f"{paths.config_file} is readable by other users (mode {mode:04o}) and may hold API "
        f"keys: run `chmod 600 {paths.config_file}`."
    ]


def _get(paths: AppPaths, field: str) -> int:
    _check_field(field)
    value = _display(field, _value_at(load_config(paths), field))
    print(value if isinstance(value, str) else json.dumps(value))
    return 0


def _set(paths: AppPaths, field: str, text: str | None) -> int:
    _check_field(field)
    if text is None:
        if not is_secret_path(field):
            raise _UsageError(f"set {field}: a value is required")
        text = _read_secret(field)
    value = _parse_value(text)
    data = read_raw_config(paths)
    edited = copy.deepcopy(data)
    _assign(edited, field, value)
    try:
        save_config(config_from_data(edited, paths.config_file), paths)
    except ConfigError as exc:
        raise _UsageError(f"refused, config.json left unchanged:\n{exc}") from None
    shown = _display(field, value)
    print(f"{field} = {shown if isinstance(shown, str) else json.dumps(shown)} (saved)")
    _note_env_override(field)
    return 0


def _unset(paths: AppPaths, field: str) -> int:
    _check_field(field)
    data = read_raw_config(paths)
    edited = copy.deepcopy(data)
    if not _remove(edited, field):
        print(f"{field} is not set in {paths.config_file}; it already has its default")
        return 0
    save_config(config_from_data(edited, paths.config_file), paths)
    print(f"{field} removed from {paths.config_file}; the default applies")
    _note_env_override(field)
    return 0


def _check_field(field: str) -> None:
    sections = {p.rsplit(".", 1)[0] for p in setting_paths() if "." in p}
    if field in setting_paths() or field in sections:
        return
    close = difflib.get_close_matches(field, [*setting_paths(), *sections], n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; see `ironcurtain config`"
    raise _UsageError(f"unknown setting {field!r}{hint}")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _read_secret(field: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{field}: ")
    return sys.stdin.readline().strip()


def _assign(data: dict[str, Any], field: str, value: Any) -> None:
    *parents, leaf = field.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        node[part] = child = child if isinstance(child, dict) else {}
        node = child
    node[leaf] = value


def _remove(data: dict[str, Any], field: str) -> bool:
    *parents, leaf = field.split(".")
    node = data
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return False
    if leaf not in node:
        return False
    del node[leaf]
    if parents and not node:
        _remove(data, ".".join(parents))  # drop a section left empty
    return True


def _value_at(config: Config, field: str) -> Any:
    node: Any = config
    for part in field.split("."):
        node = getattr(node, to_snake(part))
    return _plain(node)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {
            (info.alias or name): _plain(getattr(value, name))
            for name, info in type(value).model_fields.items()
        }
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):  # mcpServers: name -> a declared server
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _display(field: str, value: Any) -> Any:
    """The value as shown to a person or a script: keys masked, also inside sections."""
    if isinstance(value, dict):
        return {k: _display(f"{field}.{k}", v) for k, v in value.items()}
    if is_secret_path(field) or _server_credential(field):
        return None if value is None else mask_secret(value)
    return value


def _server_credential(field: str) -> bool:
    """``mcpServers.NAME.env.VAR`` and ``mcpServers.NAME.headers.HEADER``: a declared server's
    credentials, masked like API keys wherever a setting is shown."""
    parts = field.split(".")
    return len(parts) == 4 and parts[0] == "mcpServers" and parts[2] in ("env", "headers")


def _note_env_override(field: str) -> None:
    var = _ENV_FOR_FIELD.get(field)
    if var and os.environ.get(var):
        print(f"note: {var} is set in the environment and wins over config.json")
