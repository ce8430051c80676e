"""config.json: the model, loading with environment precedence, errors, saving, weakening."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from appliance.config.paths import AppPaths, app_paths
from appliance.config.settings import (
    Config,
    ConfigError,
    config_from_data,
    load_config,
    mask_secret,
    read_file_config,
    save_config,
    setting_paths,
    weakening_settings,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "config" / "invalid_configs.json"
CASES = json.loads(VECTORS.read_text())["cases"]
ANTHROPIC_KEY = "sk-ant-api03-FILEKEYfilekey000011112222"


@pytest.fixture
def paths() -> AppPaths:
    return app_paths()


def write(paths: AppPaths, data: object) -> bytes:
    paths.home.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data)
    paths.config_file.write_text(text)
    return paths.config_file.read_bytes()


def test_missing_file_gives_the_documented_defaults(paths):
    config = load_config(paths, environ={})
    assert config.agent_model_id == "anthropic:claude-sonnet-4-6"
    assert config.resource_budget.max_total_tokens == 1_000_000
    assert config.resource_budget.max_steps == 200
    assert config.resource_budget.max_session_seconds == 1800
    assert config.resource_budget.max_estimated_cost_usd == 5.0
    assert config.auto_approve.enabled is False
    assert config.escalation_timeout_seconds == 300
    assert config.audit_redaction is True
    assert config.web_search.provider is None
    assert config.allowed_directories == ("~/Downloads", "~/Documents")
    assert config.credential_proxy.allowed_providers == ("anthropic",)
    assert set(config.sources.values()) == {"default"}
    assert weakening_settings(config) == []
    assert not paths.config_file.exists()  # loading never creates the file


def test_the_model_is_frozen(paths):
    config = load_config(paths, environ={})
    with pytest.raises(ValueError):
        config.audit_redaction = False  # type: ignore[misc]
    with pytest.raises(ValueError):
        config.resource_budget.max_steps = 1  # type: ignore[misc]


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_invalid_values_are_refused_naming_file_field_value_and_expectation(paths, case):
    write(paths, case["config"])
    with pytest.raises(ConfigError) as caught:
        load_config(paths, environ={})
    message = str(caught.value)
    assert str(paths.config_file) in message
    assert caught.value.field == case["field"]
    assert f"{case['field']} = " in message
    assert case["value"] in message
    assert case["expected"] in message
    for secret in case.get("never", []):
        assert secret not in message
    assert "validation error" not in message  # never pydantic's whole dump


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"agentModelId": "anthropic:x",', "not valid JSON (line 1, column"),
        ("[1, 2]", "expected a JSON object at the top level, found list"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_json_names_the_file_and_where(paths, text, fragment):
    write(paths, text)
    with pytest.raises(ConfigError) as caught:
        load_config(paths, environ={})
    assert str(paths.config_file) in str(caught.value)
    assert fragment in str(caught.value)


def test_several_problems_are_all_reported(paths):
    write(paths, {"auditRedaction": "no", "escalationTimeoutSeconds": "5"})
    with pytest.raises(ConfigError) as caught:
        load_config(paths, environ={})
    message = str(caught.value)
    assert "auditRedaction" in message
    assert "escalationTimeoutSeconds" in message


def test_environment_keys_win_over_the_file_and_are_reported_as_such(paths):
    write(paths, {"anthropicApiKey": ANTHROPIC_KEY, "openaiApiKey": "sk-file-openai-0000000000"})
    env = {"ANTHROPIC_API_KEY": "sk-ant-from-env-1234567890", "OPENAI_API_KEY": ""}
    config = load_config(paths, environ=env)
    assert config.api_key_for("anthropic") == "sk-ant-from-env-1234567890"
    assert config.api_key_for("openai") == "sk-file-openai-0000000000"  # empty env var: unset
    assert config.api_key_for("google") is None
    assert config.sources["anthropicApiKey"] == "environment"
    assert config.sources["openaiApiKey"] == "file"
    assert config.sources["googleApiKey"] == "default"


def test_google_key_comes_from_its_ironcurtain_variable(paths):
    config = load_config(paths, environ={"GOOGLE_GENERATIVE_AI_API_KEY": "AIzaSyExample123456789"})
    assert config.api_key_for("google") == "AIzaSyExample123456789"


def test_a_bad_key_in_the_environment_names_the_variable_not_the_file(paths):
    with pytest.raises(ConfigError) as caught:
        load_config(paths, environ={"ANTHROPIC_API_KEY": "sk-ant-has space-9999999"})
    assert "environment variable ANTHROPIC_API_KEY" in str(caught.value)
    assert "has space" not in str(caught.value)


def test_process_environment_is_used_by_default(paths, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proc-env-0000000000000")
    assert load_config(paths).api_key_for("openai") == "sk-proc-env-0000000000000"


def test_keys_never_show_in_repr_or_dump(paths):
    write(paths, {"anthropicApiKey": ANTHROPIC_KEY})
    config = load_config(paths, environ={})
    assert ANTHROPIC_KEY not in repr(config)
    assert ANTHROPIC_KEY not in str(config.model_dump())
    assert ANTHROPIC_KEY not in config.model_dump_json()


def test_mask_secret_keeps_only_a_short_tail():
    assert mask_secret(ANTHROPIC_KEY) == "****2222"
    assert mask_secret("short-key") == "****"
    assert mask_secret(None) == "(not set)"


def test_sources_cover_every_setting_and_mark_file_values(paths):
    write(paths, {"resourceBudget": {"maxSteps": None}, "webSearch": {}})
    sources = load_config(paths, environ={}).sources
    assert tuple(sources) == setting_paths()
    assert sources["resourceBudget.maxSteps"] == "file"
    assert sources["resourceBudget.maxTotalTokens"] == "default"
    assert sources["webSearch.provider"] == "default"  # an empty section sets nothing


def test_null_disables_a_budget(paths):
    write(paths, {"resourceBudget": {"maxEstimatedCostUsd": None, "maxSteps": 300}})
    budget = load_config(paths, environ={}).resource_budget
    assert budget.max_estimated_cost_usd is None
    assert budget.max_steps == 300
    assert budget.max_total_tokens == 1_000_000


def test_save_is_atomic_mode_0600_and_writes_only_set_values(paths):
    config = config_from_data({"resourceBudget": {"maxSteps": 50}}, paths.config_file)
    save_config(config, paths)
    mode = stat.S_IMODE(os.stat(paths.config_file).st_mode)
    assert mode == 0o600
    assert json.loads(paths.config_file.read_text()) == {"resourceBudget": {"maxSteps": 50}}
    assert [p.name for p in paths.home.iterdir()] == ["config.json"]  # no temp file left


def test_save_round_trips_keys_and_lists(paths):
    data = {
        "anthropicApiKey": ANTHROPIC_KEY,
        "allowedDirectories": ["/srv/data"],
        "webSearch": {"provider": "tavily", "apiKey": "tvly-0123456789abcdef"},
    }
    save_config(config_from_data(data, paths.config_file), paths)
    assert json.loads(paths.config_file.read_text()) == data
    assert read_file_config(paths).api_key_for("anthropic") == ANTHROPIC_KEY


def test_save_refuses_keys_taken_from_the_environment(paths):
    config = load_config(paths, environ={"ANTHROPIC_API_KEY": "sk-ant-env-only-00000000"})
    with pytest.raises(ValueError, match="environment"):
        save_config(config, paths)
    assert not paths.config_file.exists()


def test_save_revalidates_unvalidated_copies(paths):
    bad = read_file_config(paths).model_copy(update={"escalation_timeout_seconds": -3})
    with pytest.raises(ConfigError, match="escalationTimeoutSeconds"):
        save_config(bad, paths)
    assert not paths.config_file.exists()


def test_a_malformed_file_is_never_overwritten(paths):
    before = write(paths, '{"agentModelId": ')
    with pytest.raises(ConfigError):
        save_config(Config(), paths)
    assert paths.config_file.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(paths, monkeypatch):
    before = write(paths, {"auditRedaction": True})

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        save_config(config_from_data({"auditRedaction": False}, paths.config_file), paths)
    assert paths.config_file.read_bytes() == before
    assert [p.name for p in paths.home.iterdir()] == ["config.json"]


def test_weakening_settings_name_every_loosened_default():
    config = config_from_data(
        {
            "autoApprove": {"enabled": True},
            "auditRedaction": False,
            "escalationTimeoutSeconds": 3600,
            "resourceBudget": {"maxSteps": None, "maxTotalTokens": 5_000_000},
            "allowedDirectories": ["~", "/srv/data", "~/Downloads"],
            "credentialProxy": {"allowedProviders": ["anthropic", "openai"]},
            "openaiBaseUrl": "http://llm.internal.example/v1",
        },
        Path("config.json"),
    )
    text = "\n".join(weakening_settings(config))
    for fragment in (
        "autoApprove is on",
        "auditRedaction is off",
        "escalationTimeoutSeconds is 3600",
        "resourceBudget.maxSteps is disabled",
        "resourceBudget.maxTotalTokens is 5000000, above the default 1000000",
        "allowedDirectories includes ~:",
        "allowedDirectories adds /srv/data",
        "credentialProxy.allowedProviders adds openai",
        "openaiBaseUrl http://llm.internal.example/v1 is plain http",
    ):
        assert fragment in text
    assert "~/Downloads" not in text  # a default directory is not a weakening
    assert len(weakening_settings(config)) == 9


def test_tighter_settings_are_not_warnings():
    config = config_from_data(
        {
            "resourceBudget": {"maxSteps": 10, "maxEstimatedCostUsd": 0.5},
            "escalationTimeoutSeconds": 60,
            "allowedDirectories": [],
            "openaiBaseUrl": "http://127.0.0.1:8080/v1",
        },
        Path("config.json"),
    )
    assert weakening_settings(config) == []
