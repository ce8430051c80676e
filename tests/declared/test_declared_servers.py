"""Servers declared as data (``mcpServers``, ``ironcurtain servers``): a user's own MCP server,
written with the SDK, behind the same chokepoint as the shipped ones (issue 16)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from appliance.cli.main import main
from appliance.config.paths import app_paths
from appliance.config.settings import load_config
from appliance.session.core import SessionOptions, open_session

pytestmark = pytest.mark.anyio
HERE = Path(__file__).parent
TOKEN = "mail-token-7d1f0c5e9a"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.jsonl"


@pytest.fixture
def declared(outbox: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``servers add mail`` as a user runs it."""
    argv = ["servers", "add", "mail", "--env", f"MAIL_OUTBOX={outbox}", "--env",
            f"MAIL_TOKEN={TOKEN}", "--", sys.executable, str(HERE / "mail_server.py")]  # fmt: skip
    assert main(argv) == 0
    assert "servers annotate mail" in capsys.readouterr().out
    return app_paths().config_file


def _edit(monkeypatch: pytest.MonkeyPatch, script: dict) -> None:
    monkeypatch.setenv("EDITOR", f"{sys.executable} {HERE / 'editor.py'}")
    monkeypatch.setenv("EDIT_SCRIPT", json.dumps(script))


async def _cli(*argv: str) -> int:
    """The CLI from an async test: it runs its own event loop, so on a thread."""
    import anyio

    return await anyio.to_thread.run_sync(main, list(argv))


def _add_rules(*rules: dict) -> None:
    policy = app_paths().generated / "compiled-policy.json"
    data = json.loads(policy.read_text())
    data["rules"] = [*rules, *data["rules"]]
    policy.write_text(json.dumps(data))


async def _call(tmp_path: Path, tool: str, arguments: dict):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(exist_ok=True)
    async with open_session(load_config(), app_paths(), SessionOptions(sandbox=sandbox)) as s:
        outcome = await s.chokepoint.call("mail", tool, arguments)
        return outcome, s.audit_path


def test_add_validates_and_writes_the_entry(declared: Path) -> None:
    entry = json.loads(declared.read_text())["mcpServers"]["mail"]
    assert entry["command"] == sys.executable and entry["env"]["MAIL_TOKEN"] == TOKEN
    assert oct(declared.stat().st_mode & 0o777) == "0o600"
    assert main(["servers", "add", "mail", "--", "true"]) == 2  # exists: needs --replace
    assert main(["servers", "add", "bad__name", "--", "true"]) == 2
    assert main(["servers", "add", "both", "--url", "https://x.test/mcp", "--", "true"]) == 2
    assert json.loads(declared.read_text())["mcpServers"].keys() == {"mail"}


async def test_an_unannotated_tool_is_refused_naming_the_fix(
    declared: Path, outbox: Path, tmp_path: Path
) -> None:
    outcome, _ = await _call(tmp_path, "send_message", {"recipient": "a@b.c", "body": "hi"})
    assert not outcome.ok
    assert outcome.decision.rule == "structural-unannotated-tool"
    assert "ironcurtain servers annotate mail" in outcome.text
    assert not outbox.exists()


async def test_annotated_by_hand_then_judged_by_the_rules(
    declared: Path, outbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(monkeypatch, {"comment": "by hand"})
    assert await _cli("servers", "annotate", "mail", "--edit") == 0
    annotations = json.loads((app_paths().generated / "tool-annotations.json").read_text())
    assert {t["toolName"] for t in annotations["servers"]["mail"]["tools"]} >= {"send_payment"}
    assert "filesystem" in annotations["servers"]  # the shipped servers' annotations are kept
    # annotated, but no rule covers it yet: denied by default
    outcome, _ = await _call(tmp_path, "send_message", {"recipient": "a@b.c", "body": "hi"})
    assert outcome.decision.rule == "default-deny"
    _add_rules({"name": "allow-messages", "description": "", "principle": "",
                "if": {"server": ["mail"], "tool": ["send_message"]}, "then": "allow",
                "reason": "messages are fine"})  # fmt: skip
    outcome, audit = await _call(
        tmp_path, "send_message", {"recipient": "a@b.c", "body": f"my token is {TOKEN}"}
    )
    assert outcome.ok, outcome.text
    sent = json.loads(outbox.read_text())
    assert sent["authorised"] is True  # the credential reached the server's own process
    assert TOKEN not in audit.read_text()  # ... and never the audit log
    assert "[REDACTED:server-credential]" in audit.read_text()


async def test_a_tool_whose_schema_changed_is_refused_until_annotated_again(
    declared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(monkeypatch, {})
    assert await _cli("servers", "annotate", "mail", "--edit") == 0
    file = app_paths().generated / "tool-annotations.json"
    data = json.loads(file.read_text())
    for tool in data["servers"]["mail"]["tools"]:
        if tool["toolName"] == "send_message":
            tool["inputSchema"]["properties"]["cc"] = {"type": "string"}
    file.write_text(json.dumps(data))
    outcome, _ = await _call(tmp_path, "send_message", {"recipient": "a@b.c", "body": "hi"})
    assert outcome.decision.rule == "structural-stale-annotation"
    assert "servers annotate mail" in outcome.text


def test_a_broken_hand_edit_writes_nothing_and_keeps_the_draft(
    declared: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(monkeypatch, {"break": True})
    assert main(["servers", "annotate", "mail", "--edit"]) == 2
    err = capsys.readouterr().err
    assert "draft kept" in err
    assert not (app_paths().generated / "tool-annotations.json").exists()
    draft = err.split("ironcurtain servers annotate: ")[1].split(":")[0]
    assert Path(draft).is_file()
    os.unlink(draft)


def test_list_shows_tools_annotation_state_and_confinement(
    declared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["servers", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["servers"]}
    assert rows.keys() >= {"filesystem", "git", "fetch", "mail"}
    assert rows["mail"]["tools"] == 4
    assert set(rows["mail"]["unannotated"]) == {"send_message", "send_payment", "list_messages",
                                                 "peek"}  # fmt: skip
    assert rows["mail"]["confinement"].startswith("NONE")
    assert rows["filesystem"]["unannotated"] == []


def test_remove_a_declared_server_and_disable_a_shipped_one(declared: Path) -> None:
    assert main(["servers", "remove", "mail"]) == 0
    assert main(["servers", "remove", "fetch"]) == 0
    servers = json.loads(declared.read_text())["mcpServers"]
    assert servers == {"fetch": {"disabled": True}}
    from appliance.config.servers import registry

    assert set(registry(load_config().mcp_servers)) == {"filesystem", "git"}
    assert main(["servers", "remove", "nothing"]) == 2
