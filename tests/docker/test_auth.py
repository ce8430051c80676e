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


def test_a_conversation_is_started_under_its_id_and_resumed_by_it(tmp_path):
    from appliance.docker.agent_state import conversation_id, has_conversation, state_dir

    conversation = conversation_id("20261205-010203-abcdef")
    assert conversation == conversation_id("20261205-010203-abcdef")  # derived, not stored
    new = ClaudeCode().launch(task="t", interactive=False, fake_key="k", conversation=conversation)
    again = ClaudeCode().launch(
        task="t", interactive=False, fake_key="k", conversation=conversation, resume=True
    )
    assert new.command[new.command.index("--session-id") + 1] == conversation
    assert again.command[again.command.index("--resume") + 1] == conversation
    state = state_dir(tmp_path)
    assert state.name == "agent-state" and (state.stat().st_mode & 0o777) == 0o700
    assert not has_conversation(state, conversation)
    (state / "projects" / "-work").mkdir(parents=True)
    (state / "projects" / "-work" / f"{conversation}.jsonl").write_text("{}\n")
    assert has_conversation(state, conversation)


def test_the_agents_state_is_never_followed_through_a_link(tmp_path):
    """The folder is the agent's: a transcript name that is a link (to anything) counts as no
    conversation, and a `projects` that is a link is not walked."""
    from appliance.docker.agent_state import conversation_id, has_conversation, state_dir

    conversation = conversation_id("s")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "-w").mkdir(parents=True)
    (elsewhere / "-w" / f"{conversation}.jsonl").write_text("{}\n")
    state = state_dir(tmp_path / "session") if (tmp_path / "session").mkdir() is None else None
    (state / "projects").symlink_to(elsewhere)
    assert not has_conversation(state, conversation)
    (state / "projects").unlink()
    (state / "projects" / "-w").mkdir(parents=True)
    (state / "projects" / "-w" / f"{conversation}.jsonl").symlink_to(elsewhere / "-w" / "x")
    assert not has_conversation(state, conversation)
