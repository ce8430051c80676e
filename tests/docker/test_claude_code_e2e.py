"""Claude Code itself, in its locally built image, against a scripted Anthropic API on host
loopback, through the credential proxy: one allowed and one denied tool call through the gate.

Opt-in (`IRONCURTAIN_DOCKER_E2E=1`): building the image takes minutes (debootstrap ~3 min here)
and Claude Code's own start costs seconds of CPU. With the image already built, the test itself
takes ~20-40 s on these machines.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.docker.adapters import ClaudeCode
from appliance.docker.run import run_agent
from appliance.session.core import SessionOptions
from tests.credproxy.credproxy_fakes import make_test_pki
from tests.docker.docker_helpers import REAL_KEY, session_config
from tests.docker.fake_anthropic import DONE, Conversation, serve

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("IRONCURTAIN_DOCKER_E2E") != "1",
        reason="opt-in: set IRONCURTAIN_DOCKER_E2E=1 (builds the Claude Code image, minutes)",
    ),
    pytest.mark.timeout(900),
]


def _scripted_api(paths: Any, tmp_path: Path) -> tuple[Conversation, Any, dict[str, Any]]:
    """The scripted Anthropic API on loopback, and the proxy settings that point at it."""
    conversation = Conversation(denied_path=str(paths.config_file))
    ca, cert, key = make_test_pki(tmp_path)
    server = serve(conversation, cert, key)
    settings = {
        "upstream_overrides": {"api.anthropic.com": ("127.0.0.1", conversation.port)},
        "extra_upstream_ca": ca,
    }
    return conversation, server, settings


def _task(paths: Any, tmp_path: Path, session_id: str, settings: dict, server: Any) -> tuple:
    """One non-PTY session on the two-call task; the scripted API is shut down after it."""
    out = io.StringIO()
    options = SessionOptions(session_id=session_id, sandbox=tmp_path / "sandbox")
    try:
        code = anyio.run(lambda: run_agent(
            session_config(), paths, options, ClaudeCode(),
            task="List the allowed directories, then read the config file.",
            pty=False, proxy_settings=settings, out=out,
        ))  # fmt: skip
    finally:
        server.shutdown()
    return code, out.getvalue()


def test_claude_code_makes_one_allowed_and_one_denied_call(engine: Any, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    code, output = _task(paths, tmp_path, "e2e-claude", settings, server)
    print(output, file=sys.stderr)
    assert code == 0, output
    assert DONE in output
    messages = [r for r in conversation.requests if r["path"].startswith("/v1/messages")]
    assert messages, "Claude Code's requests never reached the fake API"
    assert {r["api_key"] for r in conversation.requests} == {REAL_KEY}, "swapped on every request"
    audit = paths.session_dir("e2e-claude") / "audit.jsonl"
    entries = [
        e for e in map(json.loads, audit.read_text().splitlines()) if e.get("type") == "call"
    ]
    decided = {(e["tool"], e["decision"]) for e in entries}
    assert decided == {("list_allowed_directories", "allow"), ("read_text_file", "deny")}
    results = " ".join(conversation.tool_results)
    assert str(tmp_path / "sandbox") in results and "DENIED" in results


def test_claude_code_through_a_gateway(engine: Any, tmp_path: Path) -> None:
    """anthropicBaseUrl in Docker mode: Claude Code still addresses api.anthropic.com, the proxy
    sends its checked requests to the gateway (here the scripted API as https://localhost:PORT,
    a LiteLLM proxy's place) with the real key, and api.anthropic.com is never dialled."""
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    settings = {
        "gateways": {"anthropic": f"https://localhost:{conversation.port}"},
        "extra_upstream_ca": settings["extra_upstream_ca"],  # no override: only the gateway
    }
    code, output = _task(paths, tmp_path, "e2e-claude-gateway", settings, server)
    assert code == 0, output
    assert DONE in output
    assert {r["api_key"] for r in conversation.requests} == {REAL_KEY}
    audit = (paths.session_dir("e2e-claude-gateway") / "audit.jsonl").read_text()
    assert "requests go to the gateway https://localhost:" in audit  # the header names it


# The child: a `--pty` session whose terminal is the test's pseudo-terminal.
_PTY_CHILD = """
import json, sys
from pathlib import Path
import anyio
from appliance.docker.adapters import ClaudeCode
from appliance.docker.run import run_agent
from appliance.config.paths import app_paths
from appliance.session.core import SessionOptions
from tests.docker.docker_helpers import session_config
port, ca, sandbox = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
settings = {"upstream_overrides": {"api.anthropic.com": ("127.0.0.1", port)},
            "extra_upstream_ca": ca}
options = SessionOptions(session_id="e2e-claude-pty", sandbox=sandbox)
sys.exit(anyio.run(lambda: run_agent(
    session_config(), app_paths(), options, ClaudeCode(),
    task="List the allowed directories, then read the config file.",
    pty=True, proxy_settings=settings)))
"""


def test_claude_code_tui_in_pty_mode(engine: Any, tmp_path: Path) -> None:
    """The user's terminal is Claude Code's own TUI; the session ends on SIGTERM (exit 3)."""
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    ca = settings["extra_upstream_ca"]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    argv = [sys.executable, "-c", _PTY_CHILD, str(conversation.port), str(ca),
            str(tmp_path / "sandbox")]  # fmt: skip
    streams = {"stdin": secondary, "stdout": secondary, "stderr": secondary}
    child = subprocess.Popen(argv, cwd=Path(__file__).parents[2], start_new_session=True,
                             **streams)  # fmt: skip
    os.close(secondary)
    try:
        screen = _read_until(primary, DONE.encode(), timeout=300)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 3
    finally:
        server.shutdown()
        if child.poll() is None:
            child.kill()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.decode(errors="replace"))
    assert DONE in text and "bypass permissions on" in text, text[-2000:]
    # The denial, as the TUI shows it to the user (2.1 folds tool results into one line).
    assert "1 failed" in text or "DENIED" in text
    results = " ".join(conversation.tool_results)
    assert "DENIED" in results  # what the model was told
    audit = paths.session_dir("e2e-claude-pty") / "audit.jsonl"
    entries = [
        e for e in map(json.loads, audit.read_text().splitlines()) if e.get("type") == "call"
    ]
    decided = {(e["tool"], e["decision"]) for e in entries}
    assert decided == {("list_allowed_directories", "allow"), ("read_text_file", "deny")}


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_claude_code_with_a_subscription_login(
    engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same session logged in with a Claude subscription instead of an API key: Claude Code
    gets a placeholder in CLAUDE_CODE_OAUTH_TOKEN, every request reaches the API with the real
    access token as `Authorization: Bearer`, and no API key travels."""
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    home = tmp_path / "user-home"
    (home / ".claude").mkdir(parents=True)
    access = "sk-ant-oat01-REAL-subscription-token-e2e-AA"
    expires = int((time.time() + 7200) * 1000)
    credentials = {"claudeAiOauth": {"accessToken": access, "expiresAt": expires,
                                     "refreshToken": "sk-ant-ort01-refresh-e2e"}}  # fmt: skip
    (home / ".claude" / ".credentials.json").write_text(json.dumps(credentials))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("IRONCURTAIN_DOCKER_AUTH", "oauth")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    out = io.StringIO()
    options = SessionOptions(session_id="e2e-claude-oauth", sandbox=tmp_path / "sandbox")
    try:
        code = anyio.run(lambda: run_agent(
            session_config(), paths, options, ClaudeCode(),
            task="List the allowed directories, then read the config file.",
            pty=False, proxy_settings=settings, out=out,
        ))  # fmt: skip
    finally:
        server.shutdown()
    output = out.getvalue()
    print(output, file=sys.stderr)
    assert code == 0, output
    assert DONE in output
    messages = [r for r in conversation.requests if r["path"].startswith("/v1/messages")]
    assert messages, "Claude Code's requests never reached the fake API"
    assert {r["authorization"] for r in messages} == {f"Bearer {access}"}
    assert {r["api_key"] for r in conversation.requests} == {None}  # no API key travelled


def test_a_docker_session_resumes_the_agents_conversation(engine: Any, tmp_path: Path) -> None:
    """Run a session, then the same session again (`start --resume ID` does this): Claude Code
    is started with `--resume` on its own conversation, kept in the session's agent-state folder,
    so its first request of the second run carries the first run's messages."""
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    options = SessionOptions(session_id="e2e-claude-resume", sandbox=tmp_path / "sandbox")
    first_task = "List the allowed directories, then read the config file."
    outputs, codes, seen = [], [], []
    try:
        for task in (first_task, "What did you find? Answer in one line."):
            out = io.StringIO()
            before = len(conversation.requests)
            codes.append(anyio.run(lambda t=task, o=out: run_agent(
                session_config(), paths, options, ClaudeCode(), task=t, pty=False,
                proxy_settings=settings, out=o,
            )))  # fmt: skip
            outputs.append(out.getvalue())
            seen.append(conversation.requests[before:])
    finally:
        server.shutdown()
    print(outputs, file=sys.stderr)
    assert codes == [0, 0], outputs
    state = paths.session_dir("e2e-claude-resume") / "agent-state"
    assert any(state.glob("projects/*/*.jsonl")), "the conversation was not kept"
    second = [r for r in seen[1] if r["path"].startswith("/v1/messages") and "tools" in r["body"]]
    assert second, "the resumed run never asked the model"
    assert first_task in json.dumps(second[0]["body"]["messages"])  # the earlier turns came back
