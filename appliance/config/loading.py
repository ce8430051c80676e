"""Reading ``config.json`` (and provider keys from the environment) into the model, and the errors.

A bad file raises ``ConfigError`` whose message names the file, the dotted field, the (masked,
for keys) value and what was expected. Every path from raw JSON to ``Config`` goes through
``_validate``, which first applies ``KEY_TRANSLATORS`` in order: the one hook where another
module (IronCurtain's config-key compatibility, ``appliance/config/ironcurtain.py``) registers a
function ``(data, file) -> data`` that rewrites keys before validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import (
    BaseModel,
    ValidationError,
)

from appliance.config import ironcurtain
from appliance.config.models import (
    _KEY_FIELD,
    GITHUB_TOKEN_ENV,
    PROVIDER_ENV,
    Config,
    Source,
    _Section,
    mask_secret,
    setting_paths,
)
from appliance.config.paths import AppPaths, app_paths
from appliance.errors import ApplianceError


class ConfigError(ApplianceError):
    """A config file (or key from the environment) that does not validate; safe to print."""

    def __init__(self, message: str, *, file: Path, field: str = "", value: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.field = field
        self.value = value


def read_file_config(paths: AppPaths | None = None) -> Config:
    """The settings from ``config.json`` alone (no environment): the base for edits and saving."""
    paths = paths or app_paths()
    return _validate(_read_raw(paths.config_file), paths.config_file, {})


def read_raw_config(paths: AppPaths | None = None) -> dict[str, Any]:
    """The file's JSON object as written (``{}`` when absent), after checking it validates."""
    paths = paths or app_paths()
    data = _read_raw(paths.config_file)
    _validate(data, paths.config_file, {})
    return data


def load_config(paths: AppPaths | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The effective settings: defaults, then ``config.json``, then provider keys from the env,
    and the servers of IronCurtain's ``mcp-servers.json`` (config/ironcurtain_servers.py)."""
    paths = paths or app_paths()
    env = os.environ if environ is None else environ
    data = _read_raw(paths.config_file)
    overrides = {
        _KEY_FIELD[provider]: env[var] for provider, var in PROVIDER_ENV.items() if env.get(var)
    }
    if env.get(GITHUB_TOKEN_ENV) and not data.get("githubToken"):
        overrides["githubToken"] = env[GITHUB_TOKEN_ENV]
    config = _validate(data | overrides, paths.config_file, overrides)
    # IronCurtain's mcp-servers.json, when the user brought one (config.json's entries win).
    from appliance.config.ironcurtain_servers import with_ironcurtain_servers

    return with_ironcurtain_servers(config, paths.home)


def _read_raw(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the file: {exc}", file=file) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            file=file,
        ) from None
    if not isinstance(data, dict):
        found = type(data).__name__
        raise ConfigError(
            f"{file}: expected a JSON object at the top level, found {found}", file=file
        )
    return data


def config_from_data(data: Mapping[str, Any], file: Path) -> Config:
    """Validate a would-be ``config.json`` object (for edits); errors name ``file``."""
    return _validate(dict(data), file, {})


#: Functions ``(data, file) -> data`` applied, in order, to every raw config object before it is
#: validated (file, edits and environment overrides alike). The single hook for translating other
#: spellings of the settings: IronCurtain's config keys (appliance/config/ironcurtain.py, issue 19).
KEY_TRANSLATORS: list[Callable[[dict[str, Any], Path], dict[str, Any]]] = [ironcurtain.adapt]


def _validate(data: dict[str, Any], file: Path, env_keys: Mapping[str, str]) -> Config:
    for translate in KEY_TRANSLATORS:
        data = translate(data, file)
    try:
        # JSON mode: arrays become tuples while strictness still refuses "300" for a number.
        config = Config.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        raise _explain(exc, file, env_keys) from None
    sources: dict[str, Source] = {p: "file" for p in setting_paths() if _present(data, p)}
    sources |= {p: "environment" for p in env_keys}
    config._sources = sources
    return config


def _present(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _explain(exc: ValidationError, file: Path, env_keys: Mapping[str, str]) -> ConfigError:
    lines: list[str] = []
    first: tuple[str, str] = ("", "")
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        env_var = _env_var_for(str(loc[0])) if loc and loc[0] in env_keys else None
        where = f"environment variable {env_var}" if env_var else str(file)
        value = _show(field, err.get("input"))
        unknown = "unknown field " if err["type"] == "extra_forbidden" else ""
        lines.append(f"{where}: {unknown}{field} = {value}: expected {_expected(err, loc)}")
        first = first if first[0] else (field, value)
    return ConfigError("\n".join(lines), file=file, field=first[0], value=first[1])


def _env_var_for(alias: str) -> str | None:
    return next((PROVIDER_ENV[p] for p, f in _KEY_FIELD.items() if f == alias), None)


def _show(field: str, value: Any) -> str:
    """The bad value as the operator should see it: keys and key-like strings masked."""
    name = field.rsplit(".", 1)[-1].lower()
    if isinstance(value, str) and (
        any(word in name for word in ("key", "secret", "token", "password"))
        or (len(value) >= 20 and not any(c.isspace() or c in "/:~." for c in value))
    ):
        return f"{json.dumps(mask_secret(value))} (masked)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(err: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    parent, info = _field_at(loc)
    if err["type"] == "extra_forbidden":
        known = ", ".join(f.alias or n for n, f in parent.model_fields.items())
        return f"one of the known fields here: {known}"
    text = str(err["msg"]).removeprefix("Value error, ").removeprefix("expected ")
    text = text.removeprefix("Input should be ")
    if err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        text = f"a number {text}"
    if info is not None and not info.is_required() and _nullable(info):
        text += ", or null"
    return text


def _field_at(loc: tuple[Any, ...]) -> tuple[type[BaseModel], Any]:
    """The model holding the field at ``loc`` and the field's info (None if unknown)."""
    model: type[BaseModel] = Config
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if info is not None:
            nested = info.annotation
            if not (isinstance(nested, type) and issubclass(nested, _Section)):
                break
            model = nested
        info = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if info is None:
            break
    return model, info


def _nullable(info: Any) -> bool:
    return type(None) in get_args(info.annotation)
