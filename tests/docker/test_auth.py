"""Docker mode's choice between an API key and a Claude subscription (issue 22), and what the
container is given for each: a placeholder in the variable Claude Code reads for that login."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.docker.adapters import ClaudeCode
from appliance.docker.auth import AUTH_VARIABLE, choose_auth

KEY = "sk-ant-api03-real"


@pytest.fixture
def logged_in(tmp_path: Path) -> Path:
    path = tmp_path / ".credentials.json"
    path.write_text('{"claudeAiOauth": {}}')
    return path


@pytest.mark.parametrize(
    ("wanted", "key", "login", "kind"),
    [
        ("", KEY, True, "apikey"),  # a configured key wins when nothing is asked
        ("", None, True, "oauth"),  # no key, logged in: the subscription
        ("oauth", KEY, True, "oauth"),
        ("apikey", KEY, True, "apikey"),
        ("APIKEY", KEY, False, "apikey"),
    ],
)
def test_the_choice(wanted, key, login, kind, logged_in, tmp_path):
    path = logged_in if login else tmp_path / "missing.json"
    auth = choose_auth("anthropic", key, {AUTH_VARIABLE: wanted}, path)
    assert auth.kind == kind
    assert (auth.key, auth.credentials) == ((key, None) if kind == "apikey" else (None, path))


@pytest.mark.parametrize(
    ("wanted", "key", "login", "says"),
    [
        ("oauth", KEY, False, "not logged in here"),
        ("apikey", None, True, "no anthropic API key is configured"),
        ("", None, False, "no Claude subscription login was found"),
        ("bearer", KEY, True, "use apikey or oauth"),
    ],
)
def test_what_is_missing_is_said(wanted, key, login, says, logged_in, tmp_path):
    path = logged_in if login else tmp_path / "missing.json"
    with pytest.raises(ValueError, match=says):
        choose_auth("anthropic", key, {AUTH_VARIABLE: wanted}, path)


def test_a_subscription_is_claudes_only(logged_in):
    with pytest.raises(ValueError, match="only Claude"):
        choose_auth("openai", None, {AUTH_VARIABLE: "oauth"}, logged_in)


def test_the_container_gets_the_placeholder_where_claude_code_reads_it():
    oauth = ClaudeCode().launch(
        task="t", interactive=False, fake_key="sk-ant-oat01-x", auth="oauth"
    )
    keyed = ClaudeCode().launch(task="t", interactive=False, fake_key="sk-ant-api03-x")
    assert oauth.env["CLAUDE_CODE_OAUTH_TOKEN"] == "sk-ant-oat01-x"
    assert "ANTHROPIC_API_KEY" not in oauth.env
    assert keyed.env["ANTHROPIC_API_KEY"] == "sk-ant-api03-x"
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in keyed.env


def test_model_reaches_claude_codes_command_line():
    from appliance.docker.adapters import adapter_for

    launch = adapter_for("claude-code", model="opus").launch(
        task="t", interactive=False, fake_key="sk-ant-api03-x"
    )
    command = launch.command
    assert command[command.index("--model") + 1] == "opus"
    assert command.index("--model") < command.index("--print")
    plain = adapter_for("claude-code").launch(task="t", interactive=False, fake_key="k")
    assert "--model" not in plain.command


@pytest.mark.parametrize(
    "name",
    ["-p", "--dangerously-skip-permissions", "opus --print", "a;b", "x" * 200, "opus\n"],
)
def test_a_model_name_is_never_an_option_or_two_arguments(name):
    from appliance.docker.adapters import adapter_for

    with pytest.raises(ValueError, match="--model"):
        adapter_for("claude-code", model=name)
