"""The shipped servers' tool list is data (``servers/catalog.json``) so listing tools starts no
server; these tests keep that file equal to what the servers really list, and show that the
file is used for the listing only: a call still meets the live list."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from appliance.chokepoint.server_pool import ToolInfo
from appliance.config.servers import BUILTIN_SERVERS
from appliance.config.settings import Config
from appliance.session import catalog
from appliance.session.core import SessionOptions, open_session, server_specs

pytestmark = pytest.mark.anyio


async def test_the_file_is_what_the_shipped_servers_list() -> None:
    written = json.loads(catalog.catalog_path().read_text(encoding="utf-8"))
    live = await catalog.live_catalog()
    assert set(live["servers"]) == set(BUILTIN_SERVERS)
    assert written == live, (
        "servers/catalog.json is out of date: run "
        "`uv run python -m appliance.session.catalog --write` and commit the file"
    )


def test_every_shipped_spec_carries_its_list_and_declared_ones_none(tmp_path: Path) -> None:
    declared = {"mcpServers": {"notes": {"command": "notes-server", "args": ["--x"]}}}
    config = Config.model_validate_json(json.dumps(declared))
    specs = {s.name: s for s in server_specs(config, tmp_path, all_shipped=True)}
    for name in BUILTIN_SERVERS:
        assert specs[name].catalog, name
        assert {t.server for t in specs[name].catalog} == {name}
    assert specs["notes"].catalog is None  # not our code: always asked
    without = server_specs(config, tmp_path, all_shipped=True, use_catalog=False)
    assert all(s.catalog is None for s in without)


async def test_listing_starts_no_server_and_a_call_meets_the_live_list(home, tmp_path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    ghost = ToolInfo("filesystem", "ghost_tool", "listed by a stale file only", {"type": "object"})
    specs = [
        dataclasses.replace(s, catalog=(*s.catalog, ghost)) if s.name == "filesystem" else s
        for s in server_specs(Config(), sandbox)
    ]
    options = SessionOptions(task="test", sandbox=sandbox)
    async with open_session(Config(), home, options, specs=specs) as session:
        listed = await session.servers.all_tools()
        assert ghost in listed
        assert not session.servers._connections, "listing must not start a server"
        (sandbox / "a.txt").write_text("hello")
        read = await session.chokepoint.call(
            "filesystem", "read_text_file", {"path": str(sandbox / "a.txt")}
        )
        assert read.ok and "hello" in read.text, read.text
        stale = await session.chokepoint.call("filesystem", "ghost_tool", {})
        assert stale.decision.rule == "structural-unknown-tool"
        # once the server runs, its live list is what the catalogue shows
        assert ghost not in await session.servers.all_tools()


def test_a_missing_or_broken_file_means_every_server_is_asked(monkeypatch, tmp_path) -> None:
    for content in (None, "{not json", '{"servers": []}', '{"servers": {"fetch": [{"x": 1}]}}'):
        path = tmp_path / "catalog.json"
        if content is not None:
            path.write_text(content)
        monkeypatch.setattr(catalog, "catalog_path", lambda p=path: p)
        catalog.shipped_catalog.cache_clear()
        try:
            assert catalog.shipped_catalog() == {}, content
        finally:
            catalog.shipped_catalog.cache_clear()
