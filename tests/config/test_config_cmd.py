"""`ironcurtain config`: show, get, set and unset through the real CLI entry point."""

from __future__ import annotations

import json
import os
import stat

import pytest

from appliance.cli.main import main
from appliance.config.paths import app_paths

KEY = "sk-ant-api03-CMDKEYcmdkey0000aaaa1111"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def file_bytes() -> bytes:
    return app_paths().config_file.read_bytes()


def test_show_lists_every_setting_with_its_source(capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert cli(capsys, "set", "resourceBudget.maxSteps", "300")[0] == 0
    code, out, _ = cli(capsys)
    assert code == 0
    assert "(not present" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["resourceBudget.maxSteps"].split()[1:] == ["300", "(file)"]
    assert lines["agentModelId"].endswith("(default)")
    assert "****1111  (environment: ANTHROPIC_API_KEY)" in lines["anthropicApiKey"]
    assert KEY not in out
    assert "warning: resourceBudget.maxSteps is 300, above the default 200." in out


def test_show_json_for_scripts(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    code, out, _ = cli(capsys, "--json")
    document = json.loads(out)
    assert code == 0
    assert document["fileExists"] is False
    assert document["settings"]["openaiApiKey"] == {"value": "****1111", "source": "environment"}
    assert document["environmentVariables"] == {"openaiApiKey": "OPENAI_API_KEY"}
    assert document["settings"]["googleApiKey"] == {"value": None, "source": "default"}
    assert document["settings"]["allowedDirectories"]["value"] == ["~/Downloads", "~/Documents"]
    assert document["warnings"] == []
    assert KEY not in out
    assert json.loads(cli(capsys, "show", "--json")[1]) == document


def test_set_get_unset_round_trip(capsys):
    assert cli(capsys, "set", "resourceBudget.maxSteps", "300")[0] == 0
    assert cli(capsys, "get", "resourceBudget.maxSteps")[1] == "300\n"
    assert cli(capsys, "set", "agentModelId", "openai:gpt-5")[0] == 0  # not JSON: a string
    assert cli(capsys, "get", "agentModelId")[1] == "openai:gpt-5\n"
    assert cli(capsys, "set", "resourceBudget.maxEstimatedCostUsd", "null")[0] == 0
    assert cli(capsys, "get", "resourceBudget.maxEstimatedCostUsd")[1] == "null\n"
    assert cli(capsys, "set", "allowedDirectories", '["/srv/a", "~/b"]')[0] == 0
    assert json.loads(cli(capsys, "get", "allowedDirectories")[1]) == ["/srv/a", "~/b"]
    assert json.loads(file_bytes()) == {
        "resourceBudget": {"maxSteps": 300, "maxEstimatedCostUsd": None},
        "agentModelId": "openai:gpt-5",
        "allowedDirectories": ["/srv/a", "~/b"],
    }
    assert stat.S_IMODE(os.stat(app_paths().config_file).st_mode) == 0o600
    code, out, _ = cli(capsys, "unset", "resourceBudget.maxSteps")
    assert code == 0
    assert "the default applies" in out
    assert cli(capsys, "get", "resourceBudget.maxSteps")[1] == "200\n"
    cli(capsys, "unset", "resourceBudget.maxEstimatedCostUsd")
    assert "resourceBudget" not in json.loads(file_bytes())  # an emptied section goes too
    code, out, _ = cli(capsys, "unset", "resourceBudget.maxSteps")
    assert code == 0
    assert "already has its default" in out


def test_get_a_whole_section(capsys):
    cli(capsys, "set", "webSearch", '{"provider": "brave", "apiKey": "BSA-0123456789abcdef"}')
    value = json.loads(cli(capsys, "get", "webSearch")[1])
    assert value == {"provider": "brave", "apiKey": "****cdef"}


def test_a_refused_value_leaves_the_file_byte_identical(capsys):
    cli(capsys, "set", "escalationTimeoutSeconds", "120")
    before = file_bytes()
    for field, value, expected in [
        ("resourceBudget.maxSteps", "lots", 'resourceBudget.maxSteps = "lots"'),
        ("resourceBudget.maxSteps", "-4", "greater than or equal to 1"),
        ("escalationTimeoutSeconds", "null", "escalationTimeoutSeconds = null"),
        ("autoApprove.enabled", "yes", "a valid boolean"),
        ("agentModelId", "gpt-5", "'provider:model'"),
        ("webSearch.provider", "google", "'brave', 'tavily' or 'serpapi'"),
    ]:
        code, out, err = cli(capsys, "set", field, value)
        assert code == 2, field
        assert "refused, config.json left unchanged" in err
        assert expected in err
        assert out == ""
        assert file_bytes() == before


def test_unknown_fields_are_refused_with_a_suggestion(capsys):
    for action in (("get",), ("set",), ("unset",)):
        argv = [*action, "resourceBudget.maxStep"] + (["3"] if action == ("set",) else [])
        code, _, err = cli(capsys, *argv)
        assert code == 2
        assert "unknown setting 'resourceBudget.maxStep'" in err
        assert "did you mean resourceBudget.maxSteps" in err
    assert not app_paths().config_file.exists()


def test_a_malformed_file_is_reported_and_never_overwritten(capsys):
    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('{"resourceBudget": {"maxSteps": 10,}}')
    before = file_bytes()
    for argv in ((), ("get", "agentModelId"), ("set", "auditRedaction", "true")):
        code, _, err = cli(capsys, *argv)
        assert code == 2
        assert str(paths.config_file) in err
        assert "not valid JSON" in err
    assert cli(capsys, "unset", "resourceBudget.maxSteps")[0] == 2
    assert file_bytes() == before


def test_keys_are_stored_but_never_echoed(capsys, monkeypatch):
    code, out, _ = cli(capsys, "set", "anthropicApiKey", KEY)
    assert code == 0
    assert KEY not in out
    assert "****1111" in out
    assert json.loads(file_bytes())["anthropicApiKey"] == KEY
    assert cli(capsys, "get", "anthropicApiKey")[1] == "****1111\n"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-00000000000000")
    code, out, _ = cli(capsys, "set", "anthropicApiKey", KEY)
    assert "ANTHROPIC_API_KEY is set in the environment and wins" in out


def test_a_key_can_be_typed_without_putting_it_on_the_command_line(capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert cli(capsys, "set", "openaiApiKey")[0] == 0
    assert json.loads(file_bytes())["openaiApiKey"] == KEY
    code, _, err = cli(capsys, "set", "agentModelId")
    assert code == 2
    assert "a value is required" in err


def test_show_warns_about_a_config_file_others_can_read(capsys):
    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("{}")
    paths.config_file.chmod(0o644)
    out = cli(capsys)[1]
    assert "is readable by other users (mode 0644)" in out
    assert cli(capsys, "set", "auditRedaction", "true")[0] == 0  # saving repairs the mode
    assert "readable by other users" not in cli(capsys)[1]
