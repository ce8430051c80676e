"""An IronCurtain ``config.json`` loads here: its keys honoured or each warned about once, never
a refusal; ``ironcurtain config migrate`` rewrites it with a backup; unknown keys stay errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from appliance.cli.main import main
from appliance.config import ironcurtain
from appliance.config.paths import app_paths
from appliance.config.settings import ConfigError, load_config

VECTOR = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "ironcurtain" / "config.json").read_text()
)


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(ironcurtain, "_warned", set())


def write(data: dict) -> Path:
    file = app_paths().config_file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data, indent=2))
    return file


def value_at(config, dotted: str):
    node = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node.get_secret_value() if isinstance(node, SecretStr) else node


def test_every_ironcurtain_key_is_honoured_or_warned_about_once(caplog):
    write(VECTOR["file"])
    with caplog.at_level(logging.WARNING, logger="ironcurtain.config"):
        config = load_config(environ={})
        load_config(environ={})  # a second read warns no more
    for dotted, expected in VECTOR["honoured"].items():
        assert value_at(config, dotted) == expected, dotted
    messages = [r.getMessage() for r in caplog.records]
    for key in VECTOR["ignored"]:
        hits = [m for m in messages if f": {key} " in m]
        assert len(hits) == 1, (key, messages)
    assert len(messages) == len(VECTOR["ignored"])
    assert all("not supported here" in m or "unused" in m for m in messages)


def test_the_cli_starts_reading_an_ironcurtain_config(capsys):
    write(VECTOR["file"])
    assert main(["config", "get", "auditRedaction"]) == 0
    assert capsys.readouterr().out.strip() == "false"


def test_a_key_in_neither_schema_is_still_an_error_naming_it():
    write({**VECTOR["file"], "autoCompactt": True})
    with pytest.raises(ConfigError) as info:
        load_config(environ={})
    assert info.value.field == "autoCompactt"
    write({"auditRedaction": {"enabled": True, "level": "high"}})
    with pytest.raises(ConfigError, match="auditRedaction"):
        load_config(environ={})
    write({"webSearch": {"provider": "brave", "brave": {"apiKey": "k", "extra": 1}}})
    with pytest.raises(ConfigError, match="webSearch"):
        load_config(environ={})


def test_migrate_writes_our_shape_after_a_byte_identical_backup(capsys):
    file = write(VECTOR["file"])
    original = file.read_bytes()
    assert main(["config", "migrate"]) == 0
    out = capsys.readouterr().out
    backup = file.with_name("config.json.ironcurtain-backup")
    assert backup.read_bytes() == original
    assert f"the original is {backup}" in out and "dropped signal" in out
    migrated = json.loads(file.read_text())
    assert migrated["auditRedaction"] is False
    assert migrated["webSearch"] == {"provider": "brave", "apiKey": "BSA-fake-brave-key-0001"}
    assert not set(ironcurtain.IGNORED) & set(migrated)
    assert "warnThresholdPercent" not in migrated["resourceBudget"]
    assert file.stat().st_mode & 0o777 == 0o600
    assert main(["config", "migrate"]) == 0  # already migrated: nothing written, no backup
    assert "unchanged" in capsys.readouterr().out
    assert not file.with_name("config.json.ironcurtain-backup.2").exists()


def test_migrate_refuses_a_file_that_would_not_validate_and_leaves_it(capsys):
    file = write({"signal": {}, "resourceBudget": {"maxSteps": "many"}})
    before = file.read_bytes()
    assert main(["config", "migrate"]) == 2
    assert "maxSteps" in capsys.readouterr().err
    assert file.read_bytes() == before
    assert not file.with_name("config.json.ironcurtain-backup").exists()


def test_declared_servers_are_shown_with_their_credentials_masked(capsys):
    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    declared = {
        "notes": {"command": "notes-server", "env": {"NOTES_TOKEN": "nt-secret-0123456789"}},
        "tracker": {"url": "https://mcp.example/mcp",
                    "headers": {"Authorization": "Bearer tt-secret-0123456789"}},
    }  # fmt: skip
    paths.config_file.write_text(json.dumps({"mcpServers": declared}))
    for args in (["config", "get", "mcpServers"], ["config", "show"], ["config", "show", "--json"]):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "notes-server" in out and "https://mcp.example/mcp" in out
        assert "nt-secret" not in out and "tt-secret" not in out, args
