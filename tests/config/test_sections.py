"""One typed configuration path (issue 17): the chokepoint's section is cut from the validated
``Config`` in one place, holds the config's own values (no second default) and cannot change."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.config.sections import ChokepointSettings
from appliance.config.settings import Config


def test_the_section_holds_the_configs_own_values() -> None:
    config = Config.model_validate(
        {
            "auditRedaction": False,
            "escalationTimeoutSeconds": 42,
            "autoApprove": {"enabled": True, "modelId": "openai:gpt-5-mini"},
            "audit": {"export": "otlp", "checkpointEveryRecords": 7},
            "sandboxHistory": "allow",
        }
    )
    settings = ChokepointSettings.of(config)
    assert settings.redaction is False
    assert settings.escalation_timeout_seconds == 42
    assert settings.auto_approve is config.auto_approve
    assert settings.audit is config.audit and settings.audit.checkpoint_every_records == 7
    assert settings.sandbox_history == "allow"


def test_defaults_are_the_configs_defaults() -> None:
    assert ChokepointSettings.defaults() == ChokepointSettings.of(Config())
    assert ChokepointSettings.defaults().escalation_timeout_seconds == 300


def test_the_section_is_immutable() -> None:
    settings = ChokepointSettings.defaults()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.redaction = False  # type: ignore[misc]
