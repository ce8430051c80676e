"""`ironcurtain start` as a user at a terminal meets it, driven through tmux: Ctrl-C cancels the
model request at once and a second one leaves; `/budget` and `/quit` answer while an escalation
waits; every ending prints the exit summary and is recorded as what it was (never `crashed`).
And without a terminal: SIGTERM, a budget stop and a model error end with their own status."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.agent.scripted_llm import ScriptedLLM

CLI = [sys.executable, "-m", "appliance.cli"]

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


def _work(env: dict[str, str]) -> Path:
    """A scratch project folder beside the test's appliance home: `start` works in it."""
    work = Path(env["IRONCURTAIN_HOME"]).parent / "work"
    work.mkdir(exist_ok=True)
    return work


class Tmux:
    """One private tmux server (its own socket) running one command in a 200x50 pane."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        self.env = env

    def _tmux(self, *args: str) -> str:
        command = ["tmux", "-S", self.socket, "-f", "/dev/null", *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=10)
        return done.stdout

    def start(self, argv: list[str]) -> None:
        shell = " ".join(f"'{a}'" for a in argv) + "; echo EXIT=$?; sleep 60"
        work = _work(self.env)  # the agent works in the current folder: a scratch one, not the repo
        self._tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "t", "-c", str(work), shell)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", line)
        self._tmux("send-keys", "-t", "t", "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-500")

    def wait_for(self, text: str, timeout: float = 60) -> float:
        """Seconds until ``text`` is on the screen; fails with the screen when it never is."""
        started = time.monotonic()
        while text not in self.screen():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{text!r} never appeared; screen:\n{self.screen()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def close(self) -> None:
        self._tmux("kill-server")


def _configure(env: dict[str, str], llm: ScriptedLLM, **extra: object) -> Path:
    home = Path(env["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = {"agentModelId": "openai:scripted", "openaiApiKey": "sk-test-not-real"}
    config |= {"openaiBaseUrl": llm.openai_base, **extra}
    (home / "config.json").write_text(json.dumps(config))
    return home


def _state(home: Path) -> dict:
    (session,) = (home / "sessions").iterdir()
    return json.loads((session / "session.json").read_text())


@pytest.fixture
def cli_env(cli_env, tmp_path):
    home = tmp_path / "user-home"
    home.mkdir()
    return {**cli_env, "HOME": str(home)}


@pytest.fixture
def tmux(tmp_path, cli_env):
    session = Tmux(tmp_path, {**cli_env, "TERM": "xterm"})
    yield session
    session.close()


@needs_tmux
def test_ctrl_c_cancels_the_model_request_at_once_and_a_second_one_leaves(tmux, cli_env):
    steps = [{"text": "far too late", "delay": 60}, {"text": "the second answer"}]
    with ScriptedLLM(steps) as llm:
        home = _configure(cli_env, llm)
        tmux.start([*CLI, "start"])
        tmux.wait_for("> ")
        tmux.type("first question")
        tmux.wait_for("thinking")
        while not llm.requests:  # the request is on the wire, the model "thinks" for 60 s
            time.sleep(0.05)
        tmux.keys("C-c")
        assert tmux.wait_for("interrupted: the agent's work was cancelled", timeout=5) < 3
        tmux.type("second question")
        tmux.wait_for("agent: the second answer")
        assert "first question" in json.dumps(llm.requests[1])  # the conversation went on
        tmux.keys("C-c")
        tmux.wait_for("EXIT=130", timeout=30)
    screen = tmux.screen()
    state = _state(home)
    assert state["state"] == "interrupted"
    assert state["task"] == "first question"  # `sessions` shows what it was about
    assert f"── session {state['id']} interrupted" in screen
    assert f"resume: ironcurtain start --resume {state['id']}" in screen
    assert "audit:" in screen and "usage:" in screen
    assert "Traceback" not in screen


@needs_tmux
def test_budget_and_quit_answer_while_an_escalation_waits(tmux, cli_env, tmp_path):
    documents = Path(cli_env["HOME"]) / "Documents"
    documents.mkdir(parents=True, exist_ok=True)
    target = documents / "report.txt"
    steps = [
        {"code": f"filesystem.write_file(path={str(target)!r}, content='x')"},
        {"text": "must never be asked for"},
    ]
    with ScriptedLLM(steps) as llm:
        home = _configure(cli_env, llm)
        tmux.start([*CLI, "start"])
        tmux.wait_for("> ")
        tmux.type("write the report")
        tmux.wait_for("Escalation: the policy asks for your decision")
        tmux.type("/budget")
        assert tmux.wait_for("steps: 1 / 200", timeout=3) < 2
        tmux.type("/quit")
        tmux.wait_for("EXIT=0", timeout=30)
        requests = len(llm.requests)
    screen = tmux.screen()
    assert not target.exists()  # quitting denied the pending call
    assert requests == 1  # and the turn stopped there
    state = _state(home)
    assert state["state"] == "finished"
    assert f"── session {state['id']} finished" in screen
    audit = (home / "sessions" / state["id"] / "audit.jsonl").read_text()
    assert "escalate-write-elsewhere" in audit


@needs_tmux
def test_resume_shows_the_earlier_conversation(tmux, cli_env):
    with ScriptedLLM([{"text": "the first answer"}]) as llm:
        home = _configure(cli_env, llm)
        done = subprocess.run(
            [*CLI, "start", "remember the plan"],
            env=cli_env, capture_output=True, text=True, timeout=120, cwd=_work(cli_env),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        session_id = _state(home)["id"]
        tmux.start([*CLI, "start", "--resume", session_id])
        tmux.wait_for("earlier in this session:")
        tmux.type("/quit")
        tmux.wait_for("EXIT=0")
    screen = tmux.screen()
    assert "you: remember the plan" in screen and "agent: the first answer" in screen


def _start_task(cli_env, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *extra, "start", "do the task"],
        env=cli_env, cwd=_work(cli_env), text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_sigterm_ends_the_session_as_terminated(cli_env):
    with ScriptedLLM([{"text": "too late", "delay": 60}]) as llm:
        home = _configure(cli_env, llm)
        proc = _start_task(cli_env)
        deadline = time.monotonic() + 120
        while not llm.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err[-2000:]
    assert _state(home)["state"] == "terminated"
    assert "terminated" in err and "resume: ironcurtain start --resume" in err
    assert "Traceback" not in err


def test_a_budget_stop_exits_non_zero(cli_env):
    steps = [{"code": "print(1)"}, {"text": "never reached"}]
    with ScriptedLLM(steps) as llm:
        home = _configure(cli_env, llm, resourceBudget={"maxSteps": 1})
        proc = _start_task(cli_env)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert "the steps budget is used up" in err and "stopped (budget)" in err
    assert _state(home)["reason"] == "budget"


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_model_error_is_one_line_and_a_traceback_only_with_debug(cli_env, debug):
    with ScriptedLLM([{"status": 401}]) as llm:
        home = _configure(cli_env, llm)
        proc = _start_task(cli_env, *(["--debug"] if debug else []))
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    assert f"model error: {llm.openai_base} refused the API key (401)" in err
    assert ("Traceback" in err) is debug
    state = _state(home)
    assert state["state"] == "stopped" and state["reason"] == "model"


@needs_tmux
def test_a_model_error_leaves_the_session_open_for_retry_and_another_model(tmux, cli_env):
    healthy = threading.Event()  # 503 (however often the client retries) until set

    def answer(messages):
        return {"text": "back on my feet"} if healthy.is_set() else {"status": 503}

    with ScriptedLLM([], fallback=answer) as llm:
        home = _configure(cli_env, llm)
        tmux.start([*CLI, "start"])
        tmux.wait_for("> ")
        tmux.type("hello")
        tmux.wait_for("failed on its side (503): retry in a moment.")
        tmux.wait_for("/retry sends it again")
        healthy.set()
        tmux.type("/model openai:another-model")
        tmux.wait_for("model: openai:another-model")
        tmux.type("/retry")
        tmux.wait_for("agent: back on my feet")
        tmux.type("/quit")
        tmux.wait_for("EXIT=0")
        models = [r.get("model") for r in llm.requests]
    assert set(models[:-1]) == {"scripted"} and models[-1] == "another-model"
    assert "Traceback" not in tmux.screen()
    assert _state(home)["state"] == "finished"


def test_the_task_grants_are_shown_and_audited(cli_env):
    """The user's own request: the values it names are granted for the task (issue 24)."""
    with ScriptedLLM([{"text": "done"}]) as llm:
        home = _configure(cli_env, llm)
        proc = subprocess.Popen(
            [*CLI, "start", "Send 40 to Bob at GB33BUKB20201555555555, cc bob@example.org"],
            env=cli_env, cwd=_work(cli_env), text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "task grants: emails: bob@example.org" in err
    (session,) = (home / "sessions").iterdir()
    records = [json.loads(line) for line in (session / "audit.jsonl").read_text().splitlines()]
    (grants,) = [r for r in records if r.get("type") == "task-grants"]
    assert "GB33BUKB20201555555555" in grants["grants"]["task:identifiers"]
    assert {"40", "40.0"} <= set(grants["grants"]["task:amounts"])


def test_model_option_chooses_this_sessions_model(cli_env):
    """`start --model PROVIDER:MODEL` runs this session on that model (the config stays)."""
    with ScriptedLLM([{"text": "done"}]) as llm:
        home = _configure(
            cli_env,
            llm,
            anthropicApiKey="sk-ant-test-not-real",
            anthropicBaseUrl=llm.anthropic_base,
        )
        done = subprocess.run(
            [*CLI, "start", "--model", "anthropic:claude-test", "say done"],
            env=cli_env, cwd=_work(cli_env), text=True, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=120,
        )  # fmt: skip
        routes = list(llm.routes)
    assert done.returncode == 0, done.stderr[-2000:]
    assert routes == ["anthropic"]  # not the configured openai:scripted
    assert json.loads((home / "config.json").read_text())["agentModelId"] == "openai:scripted"


def test_a_wrong_model_option_names_itself(cli_env):
    with ScriptedLLM([{"text": "done"}]) as llm:
        _configure(cli_env, llm)
        done = subprocess.run(
            [*CLI, "start", "--model", "no-provider", "say done"],
            env=cli_env, cwd=_work(cli_env), text=True, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert "--model 'no-provider'" in done.stderr


@needs_tmux
def test_ctrl_c_stops_agent_code_that_makes_no_tool_call_and_the_next_run_is_whole(tmux, cli_env):
    """Session 23: Ctrl-C stops the run at its next tool call; agent code computing without
    one is stopped after a 2 s grace (it ran on to its 60 s deadline), and the next message's
    code runs normally (the stop was for that run only)."""
    steps = [
        {"code": "while True:\n    pass"},
        {"code": "print('after' + ' the stop')"},
        {"text": "the second answer"},
    ]
    with ScriptedLLM(steps) as llm:
        _configure(cli_env, llm)
        tmux.start([*CLI, "start"])
        tmux.wait_for("> ")
        tmux.type("spin")
        while not llm.requests:
            time.sleep(0.05)
        time.sleep(1.5)  # the code is spinning in the sandbox
        tmux.keys("C-c")
        assert tmux.wait_for("interrupted: the agent's work was cancelled", timeout=30) < 10
        tmux.type("again")
        tmux.wait_for("agent: the second answer")
        assert "after the stop" in json.dumps(llm.requests[2])
        tmux.keys("C-c")
        tmux.wait_for("EXIT=130", timeout=30)
    assert "Traceback" not in tmux.screen()
