"""Set-up problems end the command with exit status 2 and one clear line for the operator,
and leave nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from appliance.config.paths import app_paths
from appliance.config.settings import Config
from appliance.docker.run import EXIT_SETUP, run_agent, run_docker_session
from appliance.session.core import SessionOptions
from tests.docker.docker_helpers import ScriptAgent, session_config

pytestmark = pytest.mark.anyio


async def test_unknown_agent(capsys: pytest.CaptureFixture) -> None:
    code = await run_docker_session(Config(), app_paths(), SessionOptions(), agent="goose",
                                    task="t", pty=False)  # fmt: skip
    assert code == EXIT_SETUP
    assert "unknown agent 'goose'" in capsys.readouterr().err


async def test_no_task_without_pty(capsys: pytest.CaptureFixture) -> None:
    code = await run_docker_session(Config(), app_paths(), SessionOptions(), agent="claude-code",
                                    task=None, pty=False)  # fmt: skip
    assert code == EXIT_SETUP
    assert "give the agent a task, or attach to it with --pty" in capsys.readouterr().err


async def test_no_api_key(
    capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no Claude Code login here either
    monkeypatch.delenv("IRONCURTAIN_DOCKER_AUTH", raising=False)
    agent = ScriptAgent("unused:tag", "true")
    code = await run_agent(Config(), app_paths(), SessionOptions(), agent, task=None, pty=False)
    assert code == EXIT_SETUP
    assert "no anthropic API key is configured" in capsys.readouterr().err


def runtime_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("ironcurtain-run-*"))


@pytest.mark.docker
async def test_an_image_that_is_gone(
    engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = runtime_folders()
    agent = ScriptAgent("ironcurtain-test:no-such-image", "true")
    options = SessionOptions(session_id="setup-no-image", sandbox=tmp_path / "sb")
    code = await run_agent(session_config(), app_paths(), options, agent, task=None, pty=False)
    assert code == EXIT_SETUP
    assert "No such image" in capsys.readouterr().err
    assert runtime_folders() == before
    assert engine.containers.list(all=True, filters={"name": "setup-no-image"}) == []
