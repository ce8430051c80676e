"""One terminal (issue 22): in a `--pty` session an escalation opens IronCurtain's prompt in the
user's own terminal and is answered there; Ctrl-] opens it by hand for a trusted message. A real
container (the TEST image) on a real pseudo-terminal; the agent is a shell script that calls the
gate through its socket like an MCP client, then reads a line the user types."""

from __future__ import annotations

import json
import os
import pty
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.docker.adapters import GATE_SOCKET
from tests.docker.docker_helpers import real_key_env
from tests.docker.test_lifecycle import read_terminal, session_containers

pytestmark = pytest.mark.docker
ROOT = Path(__file__).parents[2]

_CHILD = """
import sys
from pathlib import Path
import anyio
from tests.docker.docker_helpers import run_script
image, session_id, sandbox, outside, script = sys.argv[1:6]
code, output = anyio.run(lambda: run_script(
    image, script, Path(sandbox), session_id, pty=True,
    allowed_directories=(outside,), escalation_timeout_seconds=120))
print(f"exit={code}", flush=True)
sys.exit(code)
"""


def _script(target: Path) -> str:
    def message(ident: int, method: str, params: dict | None = None) -> dict:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if ident:
            body["id"] = ident
        if params is not None:
            body["params"] = params
        return body

    write = {
        "name": "filesystem__write_file",
        "arguments": {"path": str(target), "content": "approved in the terminal\n"},
    }
    lines = [
        message(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "probe", "version": "1"}}),
        message(0, "notifications/initialized"),
        message(2, "tools/call", write),
    ]  # fmt: skip
    text = "\n".join(json.dumps(m) for m in lines)
    return (
        "echo AGENT-CALLS; "
        f"printf '%s\\n' {shlex.quote(text)} | socat -t 120 STDIO UNIX-CONNECT:{GATE_SOCKET} "
        "| grep -o '\"isError\":[a-z]*' | sed 's/^/RESULT /'; "
        "echo AGENT-READS; read line; echo GOT-$line"
    )


def test_an_escalation_is_answered_in_the_sessions_own_terminal(
    engine: Any, test_image: str, tmp_path: Path
) -> None:
    from appliance.config.paths import app_paths

    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "notes.txt"
    session_id = f"inline-{os.getpid()}"
    primary, secondary = pty.openpty()
    argv = [sys.executable, "-c", _CHILD, test_image, session_id, str(tmp_path / "sandbox"),
            str(outside), _script(target)]  # fmt: skip
    streams = {"stdin": secondary, "stdout": secondary, "stderr": secondary}
    child = subprocess.Popen(argv, cwd=ROOT, env=real_key_env(), start_new_session=True,
                             **streams)  # fmt: skip
    os.close(secondary)
    try:
        seen = read_terminal(primary, b"ironcurtain>")
        assert b"a tool call waits for your answer" in seen, seen.decode(errors="replace")
        assert b"filesystem/write_file" in seen and str(target).encode() in seen
        assert not target.exists()  # the call waits
        time.sleep(0.7)  # keystrokes of the first half second were meant for the agent
        os.write(primary, b"/approve 1\r")
        seen = read_terminal(primary, b"AGENT-READS")
        text = seen.decode(errors="replace")
        assert "[1] approved" in text and "(back to the agent)" in text, text
        assert 'RESULT "isError":false' in text, text
        assert target.read_text() == "approved in the terminal\n"
        # Ctrl-] by hand: a message for the auto-approver, never typed into the agent.
        os.write(primary, b"\x1d")
        read_terminal(primary, b"ironcurtain>")
        for key in b"pay 42 EUR to Alice\r":
            os.write(primary, bytes([key]))
        seen = read_terminal(primary, b"(back to the agent)")
        assert b"noted" in seen, seen.decode(errors="replace")
        os.write(primary, b"typed-by-the-user\r")
        seen = read_terminal(primary, b"exit=")
        text = seen.decode(errors="replace")
        assert "GOT-typed-by-the-user" in text and "pay 42" not in text.split("GOT-")[1], text
        assert child.wait(timeout=60) == 0 and "exit=0" in text, text
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        os.close(primary)
    assert session_containers(engine, session_id) == []
    audit = app_paths().session_dir(session_id) / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    calls = [r for r in records if r.get("type") == "call" and r.get("tool") == "write_file"]
    assert [(c["decision"], c["escalation"]["outcome"], c["status"]) for c in calls] == [
        ("escalate", "approved", "ok")
    ]
    grants = [r for r in records if r.get("type") == "task-grants"]
    assert grants and "42" in json.dumps(grants[-1]), grants


def test_the_auto_approver_weighs_a_docker_call_against_the_users_task(
    engine: Any, test_image: str, tmp_path: Path
) -> None:
    """The task given on the command line is the trusted user message in Docker mode (the
    agent's TUI is no trusted channel): the auto-approver sees it and may approve."""
    import anyio

    from appliance.agent.scripted_llm import ScriptedLLM
    from appliance.config.models import AutoApprove
    from appliance.config.paths import app_paths
    from tests.docker.docker_helpers import run_script

    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "notes.txt"
    task = f"please write my notes to {target}"
    session_id = f"inline-auto-{os.getpid()}"
    script = _script(target).split("; echo AGENT-READS")[0]
    with ScriptedLLM([{"text": "approve"}]) as llm:
        code, output = anyio.run(lambda: run_script(
            test_image, script, tmp_path / "sandbox", session_id, task=task,
            allowed_directories=(str(outside),), openai_api_key="sk-test",
            openai_base_url=llm.openai_base,
            auto_approve=AutoApprove(enabled=True, model_id="openai:reviewer"),
        ))  # fmt: skip
        asked = json.dumps(llm.requests[0]["messages"]) if llm.requests else ""
    assert code == 0, output
    assert 'RESULT "isError":false' in output, output
    assert target.read_text() == "approved in the terminal\n"
    assert task in asked  # what the reviewer was shown as the user's message
    audit = app_paths().session_dir(session_id) / "audit.jsonl"
    calls = [r for r in map(json.loads, audit.read_text().splitlines()) if r.get("type") == "call"]
    assert [c["escalation"] for c in calls] == [{"outcome": "auto-approved", "by": "auto-approver"}]
