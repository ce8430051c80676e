"""`exec` and `demo` as a user runs them: a subprocess of the real CLI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "appliance.cli"]


def _run(args, env, stdin=None, timeout=240, cwd=None):
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
        cwd=cwd,
    )  # fmt: skip


def test_exec_runs_a_snippet_with_real_tools_and_policy(cli_env, tmp_path: Path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "in.txt").write_text("from the host")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "text = filesystem.read_text_file(path='in.txt')\n"
        "filesystem.write_file(path='out.txt', content=text.upper())\n"
        "try:\n"
        "    filesystem.move_file(source='/etc/hostname', destination='stolen')\n"
        "except ToolError as exc:\n"
        "    print(exc)\n"
        "result = text\n"
    )
    done = _run(["exec", str(snippet), "--sandbox", str(sandbox)], cli_env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] is None
    assert json.loads(result["result"]) == "from the host"
    assert "DENIED:" in result["stdout"]
    assert (sandbox / "out.txt").read_text() == "FROM THE HOST"
    assert not (sandbox / "stolen").exists()


def test_exec_reports_guest_errors_with_exit_1(cli_env, tmp_path: Path):
    done = _run(["exec", "-", "--sandbox", str(tmp_path / "work")], cli_env, stdin="1/0\n")
    assert done.returncode == 1
    assert "ZeroDivisionError" in json.loads(done.stdout)["error"]["type"]


def test_exec_missing_file_is_a_clear_error(cli_env, tmp_path: Path):
    done = _run(["exec", str(tmp_path / "nope.py")], cli_env)
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "nope.py" in done.stderr


def test_demo_runs_end_to_end_without_a_key(cli_env):
    done = _run(["demo"], cli_env)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DENIED: " in out and ".env" in out  # the secrets file was refused
    assert "[escalation] git.git_push" in out  # the push escalated, answered by the demo
    assert "audit verify: intact" in out
    assert "demo-secret-that-must-stay-put" not in out


def test_start_without_a_key_says_which_variable_and_command(cli_env, tmp_path: Path):
    home = Path(cli_env["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text("{}")  # configured, but no key anywhere
    done = _run(["start", "summarise my notes"], cli_env, timeout=60)
    assert done.returncode == 2
    assert "ANTHROPIC_API_KEY" in done.stderr and "ironcurtain setup" in done.stderr
    assert "Traceback" not in done.stderr


def test_start_runs_one_task_against_an_openai_compatible_endpoint(cli_env, tmp_path: Path):
    from appliance.agent.scripted_llm import ScriptedLLM

    home = Path(cli_env["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    sandbox = tmp_path / "work"
    sandbox.mkdir()
    steps = [
        {"code": "filesystem.write_file(path='hello.txt', content='hi from the agent')"},
        {"text": "I wrote hello.txt."},
    ]
    with ScriptedLLM(steps) as llm:
        config = {
            "agentModelId": "openai:scripted",
            "openaiApiKey": "sk-test-not-real",
            "openaiBaseUrl": llm.openai_base,
        }
        (home / "config.json").write_text(json.dumps(config))
        done = _run(["start", "write hello.txt", "--sandbox", str(sandbox)], cli_env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (sandbox / "hello.txt").read_text() == "hi from the agent"
    assert "I wrote hello.txt." in done.stdout
    (session,) = (home / "sessions").iterdir()
    history = json.loads((session / "history.json").read_text())
    assert history[-1]["content"] == "I wrote hello.txt."


def test_exec_text_prints_for_people(cli_env, tmp_path: Path):
    snippet = "filesystem.write_file(path='a.txt', content='hi')\nprint('wrote it')\n40 + 2\n"
    work = tmp_path / "work"  # not tmp_path itself: it holds the appliance's home
    work.mkdir()
    done = _run(["exec", "-", "--sandbox", str(work), "--text"], cli_env, stdin=snippet)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote it\n=> 42\n"
    assert "(1 tool call, " in done.stderr
    failed = _run(["exec", "-", "--sandbox", str(work), "--text"], cli_env, stdin="1/0\n")
    assert failed.returncode == 1
    assert "error: ZeroDivisionError: division by zero" in failed.stderr


def test_demo_quiet_shows_steps_refusals_and_the_verdict_but_no_code_or_trail(cli_env):
    done = _run(["demo", "--quiet"], cli_env)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "▶ code (" in out and "◀ DENIED:" in out
    assert "INTACT, CLOSED" in out and "Done:" in out
    assert "    listing = " not in out  # no code listings
    assert "== audit trail" not in out


def test_start_resume_of_an_unknown_session_is_a_clear_error(cli_env):
    home = Path(cli_env["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text('{"openaiApiKey": "sk-test-not-real"}')
    done = _run(["start", "--resume", "20990101-000000-000000"], cli_env, stdin="", timeout=60)
    assert done.returncode == 2
    assert "no session '20990101-000000-000000' to resume" in done.stderr
    assert not (home / "sessions").exists()  # nothing was started


def test_start_agent_claude_code_goes_to_docker_mode(cli_env, monkeypatch):
    from appliance.cli import start

    calls = []
    monkeypatch.setattr(start, "_docker", lambda args, config, paths: calls.append(args) or 7)
    args = start.argparse.Namespace(
        task="t", resume=None, agent="claude-code", pty=False, policy_dir=None, sandbox=None
    )
    assert start._run_session(args, object(), object()) == 7
    assert calls == [args]


def _write_hello(cli_env, cwd: Path, env: dict[str, str] | None = None):
    from appliance.agent.scripted_llm import ScriptedLLM

    home = Path(cli_env["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    steps = [
        {"code": "filesystem.write_file(path='hello.txt', content='hi from the agent')"},
        {"text": "I wrote hello.txt."},
    ]
    with ScriptedLLM(steps) as llm:
        config = {"agentModelId": "openai:scripted", "openaiApiKey": "sk-test-not-real",
                  "openaiBaseUrl": llm.openai_base}  # fmt: skip
        (home / "config.json").write_text(json.dumps(config))
        # The installed command, as a user runs it: `python -m` from the project folder would put
        # that folder on the host's import path, and then it is refused as a workspace.
        ironcurtain = str(Path(sys.executable).parent / "ironcurtain")
        return subprocess.run(
            [ironcurtain, "start", "write hello.txt"], env=env or cli_env, capture_output=True,
            text=True, timeout=240, cwd=cwd,
        )  # fmt: skip


def test_start_works_in_the_current_folder_when_it_is_a_workspace(cli_env, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    done = _write_hello(cli_env, project)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"the agent works in the current folder {project.resolve()}" in done.stderr
    assert (project / "hello.txt").read_text() == "hi from the agent"
    (session,) = (Path(cli_env["IRONCURTAIN_HOME"]) / "sessions").iterdir()
    assert not (session / "sandbox" / "hello.txt").exists()


def test_start_from_home_gets_a_new_session_folder_and_says_why(cli_env, tmp_path: Path):
    user_home = tmp_path / "user"
    user_home.mkdir()
    (user_home / ".bashrc").write_text("# must never be the agent's\n")
    env = {**cli_env, "HOME": str(user_home)}
    done = _write_hello(cli_env, user_home, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the agent works in a new session folder, not the current folder:" in done.stderr
    assert "is or contains your home folder" in done.stderr
    assert not (user_home / "hello.txt").exists()
    (session,) = (Path(cli_env["IRONCURTAIN_HOME"]) / "sessions").iterdir()
    assert (session / "sandbox" / "hello.txt").read_text() == "hi from the agent"


def test_resume_goes_back_to_the_recorded_folder_unless_it_is_gone(tmp_path: Path, capsys):
    from appliance.chokepoint.audit import AuditLog
    from appliance.cli.start import _recorded_workspace
    from appliance.config.paths import AppPaths

    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    project = tmp_path / "project"
    project.mkdir()
    session = paths.session_dir("s1")
    session.mkdir(parents=True)
    log = AuditLog.create(session / "audit.jsonl", "s1", {"sandbox": str(project)}, [], "d")
    log.close()
    assert _recorded_workspace(paths, "s1") == project
    project.rmdir()
    assert _recorded_workspace(paths, "s1") is None  # never re-created empty
    assert f"the folder session s1 worked in, {project}, is gone" in capsys.readouterr().err
    assert not project.exists()
    assert _recorded_workspace(paths, "no-such-session") is None


@pytest.mark.parametrize(
    ("recorded", "agent", "history", "says"),
    [
        ("docker:claude-code", "claude-code", False, None),  # resumed in Docker mode
        ("docker:claude-code", "builtin", False, "ran claude-code in Docker mode: add --agent"),
        ("code", "claude-code", True, "is a Code Mode session: resume it without --agent"),
        ("code", "builtin", True, None),
        ("code", "builtin", False, "no session 's1' to resume"),  # no conversation kept
    ],
)
def test_a_session_is_resumed_in_the_mode_it_ran_in(tmp_path, recorded, agent, history, says):
    from appliance.chokepoint.audit import AuditLog
    from appliance.cli.start import _resume_problem
    from appliance.config.paths import AppPaths

    paths = AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    session = paths.session_dir("s1")
    session.mkdir(parents=True)
    AuditLog.create(session / "audit.jsonl", "s1", {"mode": recorded}, [], "d").close()
    if history:
        (session / "history.json").write_text("[]")
    args = argparse.Namespace(resume="s1", agent=agent)
    problem = _resume_problem(args, paths)
    assert problem is None if says is None else says in problem
