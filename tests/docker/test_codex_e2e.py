"""Codex itself, in its locally built image, against a scripted OpenAI Responses API on host
loopback, through the credential proxy: one allowed and one denied tool call through the gate.

Opt-in (`IRONCURTAIN_DOCKER_E2E=1`): building the image takes minutes (debootstrap, and Codex's
172 MB package from npm). The model is pinned to `gpt-5` here: Codex offers MCP tools to that
model as plain function tools (newer defaults reach them from JavaScript in its code mode, which
the script does not play); either way every call goes through the gate.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.docker.adapters import Codex
from appliance.docker.run import run_agent
from appliance.session.core import SessionOptions
from tests.credproxy.credproxy_fakes import make_test_pki
from tests.docker.docker_helpers import session_config
from tests.docker.fake_openai import DONE, LISTED, READ, Conversation, serve
from tests.docker.test_lifecycle import runtime_dirs, session_containers

REAL_KEY = "sk-proj-REALKEY" + "9" * 40

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("IRONCURTAIN_DOCKER_E2E") != "1",
        reason="opt-in: set IRONCURTAIN_DOCKER_E2E=1 (builds the Codex image, minutes)",
    ),
    pytest.mark.timeout(1200),
]


def _scripted_api(paths: Any, tmp_path: Path) -> tuple[Conversation, Any, dict[str, Any]]:
    """The scripted Responses API on loopback (real TLS), and the proxy settings that point
    api.openai.com at it."""
    conversation = Conversation(denied_path=str(paths.config_file))
    ca, cert, key = make_test_pki(tmp_path)
    server = serve(conversation, cert, key)
    settings = {
        "upstream_overrides": {"api.openai.com": ("127.0.0.1", conversation.port)},
        "extra_upstream_ca": ca,
    }
    return conversation, server, settings


def test_codex_makes_one_allowed_and_one_denied_call(engine: object, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("building the Codex image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    out = io.StringIO()
    options = SessionOptions(session_id="e2e-codex", sandbox=tmp_path / "sandbox")
    try:
        code = anyio.run(lambda: run_agent(
            session_config(openai_api_key=REAL_KEY), paths, options, Codex("gpt-5"),
            task="List the allowed directories, then read the config file.",
            pty=False, proxy_settings=settings, out=out,
        ))  # fmt: skip
    finally:
        server.shutdown()
    output = out.getvalue()
    assert code == 0, output
    assert DONE in output, output
    assert LISTED in conversation.offered and READ in conversation.offered
    # Only the real key reached the API; the agent held the fake one.
    assert {r["authorization"] for r in conversation.requests} == {f"Bearer {REAL_KEY}"}
    assert "DENIED" in conversation.tool_results[-1]  # what the model was told
    audit = paths.session_dir("e2e-codex") / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    decided = {(r["tool"], r["decision"]) for r in records if r.get("type") == "call"}
    assert decided == {("list_allowed_directories", "allow"), ("read_text_file", "deny")}
    usage = [r for r in records if r.get("type") == "proxy-usage" or "usage" in r]
    assert usage, "the proxy's usage summary is in the audit log"
    _ended_cleanly(engine, "e2e-codex", records)


def test_a_codex_session_resumes_its_conversation(engine: object, tmp_path: Path) -> None:
    """The same session twice (`start --resume ID` does this): Codex's home is the session's
    agent-state folder, so the second run continues the first (`resume --last`) and its first
    request carries the first run's task."""
    if os.geteuid() != 0:
        pytest.skip("building the Codex image needs root (debootstrap)")
    paths = app_paths()
    conversation, server, settings = _scripted_api(paths, tmp_path)
    options = SessionOptions(session_id="e2e-codex-resume", sandbox=tmp_path / "sandbox")
    first = "List the allowed directories, then read the config file."
    codes, seen = [], []
    try:
        for task in (first, "What did you find? Answer in one line."):
            before = len(conversation.requests)
            codes.append(anyio.run(lambda t=task: run_agent(
                session_config(openai_api_key=REAL_KEY), paths, options, Codex("gpt-5"),
                task=t, pty=False, proxy_settings=settings, out=io.StringIO(),
            )))  # fmt: skip
            seen.append(conversation.requests[before:])
    finally:
        server.shutdown()
    assert codes == [0, 0]
    audit = paths.session_dir("e2e-codex-resume") / "audit.jsonl"
    _ended_cleanly(
        engine, "e2e-codex-resume", [json.loads(x) for x in audit.read_text().splitlines()]
    )
    state = paths.session_dir("e2e-codex-resume") / "agent-state"
    assert any(state.glob("sessions/*/*/*/rollout-*.jsonl")), "Codex's session was not kept"
    second = [r for r in seen[1] if r["path"] == "/v1/responses"]
    assert second and first in json.dumps(second[0]["body"].get("input"))


def _ended_cleanly(engine: object, session_id: str, records: list[dict]) -> None:
    """The session ended as a session should: its log closed with an end record, no container
    of it left in the engine (running or stopped), no runtime folder of this process left."""
    assert records[-1]["type"] in ("end", "checkpoint"), records[-1]
    assert any(r.get("type") == "end" for r in records), "the audit log has no end record"
    assert session_containers(engine, session_id) == []
    assert runtime_dirs(os.getpid()) == []
