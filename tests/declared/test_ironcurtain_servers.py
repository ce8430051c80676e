"""IronCurtain's ``mcp-servers.json`` in the home folder, read as declared servers (issue 16):
its own file's shape loads, config.json wins a clash, and a bad entry names file, field, value."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import anyio
import pytest

from appliance.config import ironcurtain_servers
from appliance.config.loading import ConfigError
from appliance.config.paths import app_paths
from appliance.config.servers import registry
from appliance.config.settings import load_config
from appliance.session.core import SessionOptions, open_session

HERE = Path(__file__).parent
SHAPE = HERE / "data" / "ironcurtain-mcp-servers.json"
VECTORS = HERE.parent / "vectors" / "ironcurtain" / "mcp_servers.json"
REFUSED = json.loads(VECTORS.read_text())["cases"]


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ironcurtain_servers, "_said", set())


def _write(name: str, data: object) -> Path:
    file = app_paths().home / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(data if isinstance(data, str) else json.dumps(data))
    return file


def test_ironcurtains_own_file_loads(caplog: pytest.LogCaptureFixture) -> None:
    _write("mcp-servers.json", SHAPE.read_text())
    with caplog.at_level(logging.WARNING, "ironcurtain.config"):
        servers = load_config().mcp_servers
        load_config()
    workspace = servers["google-workspace"]
    assert workspace.command == "npx" and workspace.args[-1].endswith("@1.0.2")
    assert workspace.description.startswith("Google Workspace")
    # IronCurtain's own filesystem/git/fetch/github entries: the shipped servers serve them
    assert servers.keys() == {"google-workspace"}
    assert registry(servers)["git"] is None and registry(servers)["filesystem"] is None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said  # once each, though loaded twice
    assert any("fetch, filesystem, git, github: IronCurtain's own servers" in s for s in said)
    assert any(
        "google-workspace: IronCurtain sandboxes it (its 'sandbox' is not false)" in s for s in said
    )


def test_config_json_wins_a_clash_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    _write("mcp-servers.json", {"notes": {"command": "from-ironcurtain"},
                                "time": {"command": "uvx", "args": ["mcp-server-time"],
                                         "sandbox": False}})  # fmt: skip
    _write("config.json", {"mcpServers": {"notes": {"command": "from-config"}}})
    with caplog.at_level(logging.WARNING, "ironcurtain.config"):
        first, second = load_config().mcp_servers, load_config().mcp_servers
    assert first == second
    assert first["notes"].command == "from-config" and first["time"].args == ("mcp-server-time",)
    clash = [r.getMessage() for r in caplog.records if "config.json's mcpServers too" in r.message]
    assert len(clash) == 1 and "notes is declared" in clash[0]


def test_a_disabled_config_entry_switches_one_off() -> None:
    _write("mcp-servers.json", {"notes": {"command": "notes-server"}})
    _write("config.json", {"mcpServers": {"notes": {"disabled": True}}})
    assert "notes" not in registry(load_config().mcp_servers)


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case["description"][:50])
def test_a_bad_file_is_refused_naming_file_and_field(case: dict) -> None:
    """tests/vectors/ironcurtain/mcp_servers.json: each refused, nothing secret echoed."""
    file = app_paths().home / "mcp-servers.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    text = case.get("text", json.dumps(case.get("servers")))
    file.write_text("[" * 100_000 + "]" * 100_000 if text == "DEEP" else text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    message = str(caught.value)
    assert caught.value.file == file and message.startswith(f"{file}: ")
    assert caught.value.field == case["field"] and case["words"] in message, message
    assert not any(secret in message for secret in case["never"]), message


def test_bytes_that_are_not_utf8_are_refused() -> None:
    file = app_paths().home / "mcp-servers.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b'{"tracker": {"command": "\xff"}}')
    with pytest.raises(ConfigError, match="not valid JSON") as caught:
        load_config()
    assert caught.value.file == file


def test_an_oversized_file_is_refused_without_reading_it_all() -> None:
    _write("mcp-servers.json", " " * (ironcurtain_servers.MAX_BYTES + 1) + "{}")
    with pytest.raises(ConfigError, match="not a servers file"):
        load_config()


def test_a_server_from_the_file_reaches_the_chokepoint(tmp_path: Path) -> None:
    script = str(HERE / "messaging_server.py")
    _write("mcp-servers.json", {"messaging": {"command": sys.executable, "args": [script],
                                              "sandbox": False}})  # fmt: skip
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()

    async def call():
        options = SessionOptions(sandbox=sandbox)
        async with open_session(load_config(), app_paths(), options) as session:
            return await session.chokepoint.call(
                "messaging", "send_message", {"recipient": "ada", "body": "hi"}
            )

    outcome = anyio.run(call)
    # known to the registry and started; refused only because nobody annotated it yet
    assert not outcome.ok and outcome.decision.rule == "structural-unannotated-tool"
    assert "ironcurtain servers annotate messaging" in outcome.text
