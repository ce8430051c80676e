"""`ironcurtain setup`: the wizard driven through its prompts, in process and over a pipe."""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.cli.setup import Prompts, SetupCancelled, needs_setup, run_wizard
from appliance.config.paths import app_paths
from appliance.config.settings import ConfigError

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-ant-api03-WIZARDwizard0000bbbb2222"
BRAVE = "BSA-wizard-0123456789xyz"
GH_TOKEN = "ghp_WIZARDwizard000000000000000000000gh01"


class Script:
    """Answers prompts in order; running out behaves like Ctrl-D, ``KeyboardInterrupt`` like ^C."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.transcript: list[str] = []

    def _next(self, prompt: str) -> str:
        self.transcript.append(prompt)
        if not self.answers:
            raise EOFError
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    def prompts(self) -> Prompts:
        return Prompts(ask=self._next, ask_secret=self._next, say=self.transcript.append)

    @property
    def text(self) -> str:
        return "\n".join(self.transcript)


FIRST_RUN = ("anthropic", KEY, "", "brave", BRAVE, GH_TOKEN, "n")


def test_first_run_writes_a_0600_config_from_the_answers():
    script = Script(*FIRST_RUN)
    config = run_wizard(environ={}, prompts=script.prompts())
    paths = app_paths()
    assert stat.S_IMODE(os.stat(paths.config_file).st_mode) == 0o600
    assert json.loads(paths.config_file.read_text()) == {
        "agentModelId": "anthropic:claude-sonnet-4-6",
        "anthropicApiKey": KEY,
        "autoApprove": {"enabled": False},
        "webSearch": {"provider": "brave", "apiKey": BRAVE},
        "githubToken": GH_TOKEN,
    }
    assert config.api_key_for("anthropic") == KEY
    assert config.github_token.get_secret_value() == GH_TOKEN
    assert KEY not in script.text
    assert BRAVE not in script.text
    assert GH_TOKEN not in script.text
    assert not script.answers


def test_rerun_offers_current_values_and_keeps_keys_on_enter():
    run_wizard(environ={}, prompts=Script(*FIRST_RUN).prompts())
    script = Script("", "", "", "", "", "", "y")
    config = run_wizard(environ={}, prompts=script.prompts())
    assert "(anthropic)" in script.transcript[1]
    assert "Enter keeps the stored key ****2222" in script.text
    assert "Agent model [anthropic:claude-sonnet-4-6]" in script.text
    assert "(brave)" in script.text
    assert "Enter keeps ****9xyz" in script.text
    assert "Enter keeps ****gh01" in script.text
    assert config.github_token.get_secret_value() == GH_TOKEN
    assert config.api_key_for("anthropic") == KEY
    assert config.web_search.api_key.get_secret_value() == BRAVE
    assert config.auto_approve.enabled is True
    assert "warning: autoApprove is on" in script.text  # the weakening is said out loud


def test_an_environment_key_is_named_not_asked_for():
    env = {"OPENAI_API_KEY": "sk-env-openai-000000000000"}
    script = Script("openai", "", "gpt-4.1", "none", "", "n")
    config = run_wizard(environ=env, prompts=script.prompts())
    assert "OPENAI_API_KEY is set in your environment" in script.text
    assert "API key (hidden" not in script.text
    assert "sk-env-openai" not in script.text
    assert config.agent_model_id == "openai:gpt-4.1"  # a bare model gets its provider
    # Without an Anthropic key the default policy model could never run.
    assert config.policy_model_id == "openai:gpt-4.1"
    assert "openaiApiKey" not in json.loads(app_paths().config_file.read_text())


def test_invalid_answers_are_asked_again():
    script = Script(
        "mistral",
        "anthropic",
        "key with spaces",
        KEY,
        "bad model",
        "",
        "bing",
        "none",
        "ghp with spaces",
        "",
        "maybe",
        "n",
    )
    config = run_wizard(environ={}, prompts=script.prompts())
    assert "please answer one of: anthropic, openai, google" in script.text
    assert "not accepted: anthropicApiKey" in script.text
    assert "key with spaces" not in script.text
    assert "not accepted: agentModelId" in script.text
    assert "please answer y or n" in script.text
    assert "not accepted: githubToken" in script.text and "ghp with" not in script.text
    assert config.agent_model_id == "anthropic:claude-sonnet-4-6"


@pytest.mark.parametrize("stop_after", range(len(FIRST_RUN)))
@pytest.mark.parametrize("how", [KeyboardInterrupt(), None], ids=["ctrl-c", "eof"])
def test_interrupting_any_prompt_leaves_the_old_config_untouched(stop_after, how):
    run_wizard(environ={}, prompts=Script(*FIRST_RUN).prompts())
    before = app_paths().config_file.read_bytes()
    answers = ["openai", "sk-new-openai-00000000000", "gpt-5", "tavily", "tvly-0000000000", "", "y"]
    interrupted = answers[:stop_after] + ([how] if how else [])
    with pytest.raises(SetupCancelled):
        run_wizard(environ={}, prompts=Script(*interrupted).prompts())
    assert app_paths().config_file.read_bytes() == before
    assert [p.name for p in app_paths().home.iterdir()] == ["config.json"]


def test_a_malformed_config_stops_the_wizard_before_any_question():
    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('{"auditRedaction": "off"}')
    script = Script(*FIRST_RUN)
    with pytest.raises(ConfigError, match="auditRedaction"):
        run_wizard(environ={}, prompts=script.prompts())
    assert script.transcript == []
    assert paths.config_file.read_text() == '{"auditRedaction": "off"}'


def test_a_config_changed_during_the_interview_is_not_clobbered():
    paths = app_paths()

    def edit_meanwhile(prompt: str) -> str:
        paths.home.mkdir(parents=True, exist_ok=True)
        paths.config_file.write_text('{"auditRedaction": false}')
        return "n"

    script = Script(*FIRST_RUN[:-1])
    prompts = Prompts(
        ask=lambda p: script._next(p) if script.answers else edit_meanwhile(p),
        ask_secret=script._next,
        say=script.transcript.append,
    )
    with pytest.raises(ConfigError, match="changed by another process"):
        run_wizard(environ={}, prompts=prompts)
    assert paths.config_file.read_text() == '{"auditRedaction": false}'


def test_needs_setup_only_without_file_and_without_env_key():
    paths = app_paths()
    assert needs_setup(paths, environ={}) is True
    assert needs_setup(paths, environ={"ANTHROPIC_API_KEY": ""}) is True
    assert needs_setup(paths, environ={"GOOGLE_GENERATIVE_AI_API_KEY": "AIza-x"}) is False
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("{}")
    assert needs_setup(paths, environ={}) is False


def _default_sigint() -> None:
    """Ctrl-C must reach the child as a user's would: a test run started in the background
    (`pytest &`, nohup) ignores SIGINT, and a child inherits that, so Python would never raise
    KeyboardInterrupt in it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "setup"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_default_sigint,
    )


def test_the_real_command_over_a_pipe():
    answers = "\n".join(["google", "AIzaSy-pipe-0123456789abc", "", "none", "", "n"]) + "\n"
    proc = _spawn()
    out, err = proc.communicate(answers.encode(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"AIzaSy-pipe" not in out + err
    data = json.loads(app_paths().config_file.read_text())
    assert data["googleApiKey"] == "AIzaSy-pipe-0123456789abc"
    assert data["agentModelId"] == "google:gemini-2.5-pro"


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 30) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            raise AssertionError(f"no {marker!r} in {seen!r}")
        seen += chunk
    return seen


def _interrupt(proc: subprocess.Popen[bytes]) -> bytes:
    """Ctrl-C, then the process's stderr once it has ended. stdin stays open until then:
    communicate() would close it at once, and a wizard that sees the end of its input before
    the signal rightly answers "no terminal" (exit 2) instead of "cancelled"."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    err = proc.stderr.read()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        stream.close()
    return err


def test_ctrl_c_in_the_real_command_exits_130_and_changes_nothing():
    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('{"agentModelId": "anthropic:claude-opus-4-1"}')
    before = paths.config_file.read_bytes()
    proc = _spawn()
    proc.stdin.write(b"openai\nsk-typed-openai-000000000000\n")
    proc.stdin.flush()
    _read_until(proc, b"OpenAI-compatible base URL")
    err = _interrupt(proc)
    assert proc.returncode == 130
    assert b"setup cancelled: config.json unchanged" in err
    assert paths.config_file.read_bytes() == before


def test_a_refused_base_url_is_asked_again_and_the_wizard_ends_with_next_steps():
    script = Script("openai", "sk-wizard-0123456789", "ftp://nope", "http://127.0.0.1:4000/v1",
                    "", "none", "", "n")  # fmt: skip
    config = run_wizard(environ={}, prompts=script.prompts())
    assert "not accepted: openaiBaseUrl" in script.text
    assert config.openai_base_url == "http://127.0.0.1:4000/v1"
    assert script.transcript[-1].startswith("next: `ironcurtain start`")


def test_without_a_terminal_setup_explains_itself_and_exits_2():
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "setup"],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "stdin is not a terminal" in done.stderr and "ANTHROPIC_API_KEY" in done.stderr
    assert not app_paths().config_file.exists()


def test_start_without_configuration_or_terminal_says_why_not_130(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "start", "a task"],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "No configuration yet" in done.stderr and "stdin is not a terminal" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_a_bad_sandbox_is_a_clear_error_and_nothing_is_created(tmp_path, kind):
    target = tmp_path / ("notes.txt" if kind == "file" else "no-such-folder")
    if kind == "file":
        target.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "start", "a task", "--sandbox", str(target)],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    expected = "this is a file, not a folder" if kind == "file" else "no such folder"
    assert f"--sandbox {target}: {expected}" in done.stderr
    assert (kind == "file") == target.exists()  # a missing folder was not created
    assert "Traceback" not in done.stderr


def test_ctrl_c_in_the_wizard_launched_by_start_says_so_and_exits_130():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "start"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**env, "PYTHONUNBUFFERED": "1"}, preexec_fn=_default_sigint,
    )  # fmt: skip
    _read_until(proc, b"LLM provider")
    err = _interrupt(proc)
    assert proc.returncode == 130
    assert b"No configuration yet" in err and b"setup cancelled: config.json unchanged" in err
    assert not app_paths().config_file.exists()


def test_the_github_token_can_come_from_gh_when_the_user_types_gh():
    from appliance.cli.github_token import ask_github_token
    from appliance.cli.setup import _set_valid

    script = Script("gh", "gh")
    data: dict = {}
    tokens = iter([None, GH_TOKEN])  # gh logged out, then logged in
    ask_github_token(script.prompts(), data, _set_valid, app_paths(), gh=lambda: next(tokens))
    assert data["githubToken"] == GH_TOKEN
    assert "gh gave no token" in script.text and "githubToken set from gh (****gh01)" in script.text
    assert GH_TOKEN not in script.text
