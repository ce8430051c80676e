"""Claude Code itself, in its locally built image, against a scripted Anthropic API on host
loopback, through the credential proxy: one allowed and one denied tool call through the gate.

Opt-in (`IRONCURTAIN_DOCKER_E2E=1`): building the image takes minutes (debootstrap ~3 min here)
and Claude Code's own start costs seconds of CPU. With the image already built, the test itself
takes ~20-40 s on these machines.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from appliance.docker.adapters import ClaudeCode
from appliance.docker.run import run_agent
from appliance.paths import app_paths
from appliance.session import SessionOptions
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


def test_claude_code_makes_one_allowed_and_one_denied_call(engine: Any, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    paths = app_paths()
    conversation = Conversation(denied_path=str(paths.config_file))
    ca, cert, key = make_test_pki(tmp_path)
    server = serve(conversation, cert, key)
    out = io.StringIO()
    settings = {
        "upstream_overrides": {"api.anthropic.com": ("127.0.0.1", conversation.port)},
        "extra_upstream_ca": ca,
    }
    options = SessionOptions(session_id="e2e-claude", sandbox=tmp_path / "sandbox")
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
    assert {r["api_key"] for r in conversation.requests} == {REAL_KEY}, "swapped on every request"
    audit = paths.session_dir("e2e-claude") / "audit.jsonl"
    entries = [e for e in map(json.loads, audit.read_text().splitlines()) if "tool" in e]
    decided = {(e["tool"], e["decision"]) for e in entries}
    assert decided == {("list_allowed_directories", "allow"), ("read_text_file", "deny")}
    results = " ".join(conversation.tool_results)
    assert str(tmp_path / "sandbox") in results and "DENIED" in results
