"""The appliance's settings: ``config.json`` plus provider keys from the environment.

One frozen pydantic model, validated once at the boundary and then passed around explicitly;
each part of the appliance is handed only its own section. This module is the public face of the
configuration; the work is split by concern:

- ``appliance.config.models``: the model, one class per section (``Config``, ``ResourceBudget``,
  ``AutoApprove``, ``WebSearch``, ``CredentialProxy``) and the escalation deadline's default;
- ``appliance.config.loading``: reading the file and the environment, ``ConfigError`` (file,
  dotted field, masked value, what was expected), and ``KEY_TRANSLATORS``, the one hook for
  IronCurtain config-key compatibility (``appliance/config/ironcurtain.py``);
- ``appliance.config.saving``: atomic 0600 writes of the explicitly set values only;
- ``appliance.config.weakening``: one sentence per setting that loosens a secure default;
- ``appliance.config.sections``: ``ChokepointSettings``, the chokepoint's section, cut from a
  validated ``Config`` in one place (the chokepoint never receives the whole model).

A malformed file is never overwritten.
"""

from __future__ import annotations

from appliance.config.loading import (
    KEY_TRANSLATORS,
    ConfigError,
    config_from_data,
    load_config,
    read_file_config,
    read_raw_config,
)
from appliance.config.models import (
    DEFAULT_ESCALATION_TIMEOUT_S,
    PROVIDER_ENV,
    AuditTrail,
    AutoApprove,
    Config,
    CredentialProxy,
    ResourceBudget,
    Source,
    WebSearch,
    is_secret_path,
    mask_secret,
    setting_paths,
    to_snake,
)
from appliance.config.saving import save_config
from appliance.config.sections import ChokepointSettings
from appliance.config.weakening import weakening_settings

__all__ = [
    "DEFAULT_ESCALATION_TIMEOUT_S",
    "KEY_TRANSLATORS",
    "PROVIDER_ENV",
    "AuditTrail",
    "AutoApprove",
    "ChokepointSettings",
    "Config",
    "ConfigError",
    "CredentialProxy",
    "ResourceBudget",
    "Source",
    "WebSearch",
    "config_from_data",
    "is_secret_path",
    "load_config",
    "mask_secret",
    "read_file_config",
    "read_raw_config",
    "save_config",
    "setting_paths",
    "to_snake",
    "weakening_settings",
]
