"""Third-party MCP servers from the npm registry, installed and declared as a user would, behind
the chokepoint: ``@modelcontextprotocol/server-memory`` (a server the appliance knows nothing
about) and the reference ``@modelcontextprotocol/server-filesystem`` declared in place of the
shipped one, which the shipped annotations and policy must then govern.

The packages are installed once per run into a cache folder with ``npm install`` (the registry
is reachable on these machines); without npm or the registry the tests skip, saying why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from appliance.cli.main import main
from appliance.config.paths import app_paths
from appliance.config.settings import config_from_data, load_config
from appliance.session.core import SessionOptions, open_session

HERE = Path(__file__).parent
PACKAGES = ("@modelcontextprotocol/server-memory", "@modelcontextprotocol/server-filesystem")


@pytest.fixture(scope="session")
def npm_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    cache = Path(os.environ.get("IRONCURTAIN_TEST_NPM_CACHE", tmp_path_factory.mktemp("npm")))
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), *PACKAGES],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm install failed (registry unreachable?): {done.stderr.strip()[-300:]}")
    return cache / "node_modules" / ".bin"


def _write_config(data: dict) -> None:
    config = app_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(data))
    config.chmod(0o600)


async def _calls(sandbox: Path, calls: list[tuple[str, str, dict]]) -> list:
    options = SessionOptions(sandbox=sandbox)
    async with open_session(load_config(), app_paths(), options) as session:
        return [await session.chokepoint.call(*call) for call in calls]


def test_server_memory_declared_annotated_and_called(
    npm_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = tmp_path / "memory.jsonl"
    entry = {
        "command": str(npm_bin / "mcp-server-memory"),
        "env": {"MEMORY_FILE_PATH": str(memory)},
    }
    _write_config({"mcpServers": {"memory": entry}})
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    entity = {"entities": [{"name": "Ada", "entityType": "person", "observations": ["math"]}]}
    before = anyio.run(_calls, sandbox, [("memory", "create_entities", entity)])
    assert before[0].decision.rule == "structural-unannotated-tool"
    monkeypatch.setenv("EDITOR", f"{sys.executable} {HERE / 'editor.py'}")
    monkeypatch.setenv("EDIT_SCRIPT", json.dumps({"comment": "memory graph"}))
    assert main(["servers", "annotate", "memory", "--edit"]) == 0
    policy = app_paths().generated / "compiled-policy.json"
    rules = json.loads(policy.read_text())
    allow = {"name": "memory-ok", "description": "", "principle": "",
             "if": {"server": ["memory"]}, "then": "allow", "reason": "notes"}  # fmt: skip
    rules["rules"].insert(0, allow)
    policy.write_text(json.dumps(rules))
    created, graph = anyio.run(
        _calls, sandbox, [("memory", "create_entities", entity), ("memory", "read_graph", {})]
    )
    assert created.ok and graph.ok, (created.text, graph.text)
    assert "Ada" in graph.text and memory.exists()


def test_the_reference_filesystem_server_in_place_of_ours_meets_the_shipped_policy(
    npm_bin: Path, tmp_path: Path
) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "notes.md").write_text("hello\n")
    reference = str(npm_bin / "mcp-server-filesystem")
    _write_config({"mcpServers": {"filesystem": {"command": reference, "args": [str(sandbox)]}}})
    assert load_config().mcp_servers["filesystem"].command == reference
    read, outside, written = anyio.run(
        _calls,
        sandbox,
        [
            ("filesystem", "read_text_file", {"path": str(sandbox / "notes.md")}),
            ("filesystem", "read_text_file", {"path": str(app_paths().config_file)}),
            ("filesystem", "write_file", {"path": str(sandbox / "new.md"), "content": "x"}),
        ],
    )
    assert read.ok and "hello" in read.text
    assert read.decision.rule == "structural-sandbox-allow"
    assert not outside.ok and outside.decision.rule == "structural-protected-path"
    assert written.ok and (sandbox / "new.md").read_text() == "x"


def test_a_claude_desktop_block_loads_as_it_is(tmp_path: Path) -> None:
    brave = ["-y", "@modelcontextprotocol/server-brave-search"]
    block = {"mcpServers": {
        "brave-search": {"command": "npx", "args": brave, "env": {"BRAVE_API_KEY": "BSA-01234567"}},
        "memory": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/x"]},
    }}  # fmt: skip
    config = config_from_data(block, tmp_path / "config.json")
    assert config.mcp_servers["brave-search"].secrets() == ("BSA-01234567",)
