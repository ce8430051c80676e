"""The reference ``@modelcontextprotocol/server-everything`` (Node, from npm) in its Streamable
HTTP mode, declared by ``url`` on loopback and called through a real session and chokepoint:
a third-party implementation of the transport, not ours and not the Python SDK's.

Installed once per run with ``npm install`` (into ``IRONCURTAIN_TEST_NPM_CACHE`` when set, as the
other npm tests do); without npm or the registry the test skips, saying why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config.paths import AppPaths
from appliance.config.servers import DeclaredServer
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session, remote_spec
from tests.declared.remote_helpers import free_port, wait_listening

PACKAGE = "@modelcontextprotocol/server-everything"
TOKEN = "Bearer everything-token-4e8a"


@pytest.fixture(scope="module")
def everything_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    cache = Path(os.environ.get("IRONCURTAIN_TEST_NPM_CACHE", tmp_path_factory.mktemp("npm")))
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), PACKAGE],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm install failed (registry unreachable?): {done.stderr.strip()[-300:]}")
    port = free_port()
    server = subprocess.Popen(
        [str(cache / "node_modules" / ".bin" / "mcp-server-everything"), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, server)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(10)


def _policy(folder: Path) -> Path:
    """Two of its tools annotated and allowed; everything else it has stays unannotated."""
    folder.mkdir()
    tools = [
        {"toolName": "echo", "serverName": "everything", "sideEffects": False,
         "args": {"message": ["none"]}},
        {"toolName": "get-sum", "serverName": "everything", "sideEffects": False,
         "args": {"a": ["none"], "b": ["none"]}},
    ]  # fmt: skip
    annotations = {"servers": {"everything": {"tools": tools}}}
    (folder / "tool-annotations.json").write_text(json.dumps(annotations))
    rule = {"name": "allow-everything-reads", "description": "", "principle": "tests",
            "if": {"server": ["everything"], "tool": ["echo", "get-sum"]}, "then": "allow",
            "reason": "the test allows these two"}  # fmt: skip
    (folder / "compiled-policy.json").write_text(json.dumps({"rules": [rule]}))
    (folder / "dynamic-lists.json").write_text(json.dumps({"lists": {}}))
    return folder


@pytest.mark.anyio
async def test_server_everything_over_streamable_http(
    everything_url: str, home: AppPaths, tmp_path: Path
) -> None:
    spec = remote_spec(
        "everything", DeclaredServer(url=everything_url, headers={"Authorization": TOKEN})
    )
    options = SessionOptions(task="t", sandbox=tmp_path / "sb", policy_dir=_policy(tmp_path / "p"))
    async with open_session(Config(), home, options, specs=[spec]) as session:
        tools = await session.servers.tools("everything")
        echo = await session.chokepoint.call("everything", "echo", {"message": "over http"})
        total = await session.chokepoint.call("everything", "get-sum", {"a": 2, "b": 40})
        env = await session.chokepoint.call("everything", "get-env", {})
        wrong = await session.chokepoint.call("everything", "get-sum", {"a": "two"})
    assert {"echo", "get-sum", "get-env"} <= set(tools)
    assert echo.ok and echo.text == "Echo: over http"
    assert total.ok and "42" in total.text
    assert env.decision.rule == "structural-unannotated-tool" and not env.ok
    assert wrong.decision.rule == "invalid-arguments"
    assert "everything-token" not in session.audit_path.read_text()
