"""Writing ``config.json``: only explicitly set values, atomically, mode 0600, never over a file
that does not validate, never with keys that came from the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import (
    SecretStr,
)

from appliance.config.loading import _validate, read_file_config
from appliance.config.models import Config
from appliance.config.paths import AppPaths, app_paths
from appliance.host.atomic import write_text_atomic


def save_config(config: Config, paths: AppPaths | None = None) -> Path:
    """Write the explicitly set values of ``config`` to ``config.json``, atomically, mode 0600.

    Only values that were set are written, so a default changed in a later release still
    reaches the user. Refuses a config holding keys taken from the environment (they would
    leak into the file) and refuses to replace an existing file that does not validate.
    """
    paths = paths or app_paths()
    if any(source == "environment" for source in config._sources.values()):
        raise ValueError(
            "refusing to write API keys from the environment into config.json; "
            "save a config made by read_file_config(), not load_config()"
        )
    read_file_config(paths)  # raises ConfigError: a malformed file is never overwritten
    data = _plain(config.model_dump(exclude_unset=True))
    _validate(data, paths.config_file, {})  # model_copy(update=...) skips validation; we don't
    _atomic_write(paths.config_file, json.dumps(data, indent=2) + "\n")
    return paths.config_file


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _atomic_write(file: Path, text: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(file, text, mode=0o600, durable_rename=True)
