"""A session's servers run confined; best-effort is a weakening the audit header records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session, server_specs
from tests.confinement.conftest import World

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _header(session_dir: Path) -> dict:
    return json.loads((session_dir / "audit.jsonl").read_text().splitlines()[0])


async def test_best_effort_is_written_into_the_audit_header(world: World) -> None:
    paths = AppPaths(home=world.app_home, cache=world.app_home / "cache")
    options = SessionOptions(task="t", session_id="besteffort")
    async with open_session(Config(confinement="best-effort"), paths, options) as session:
        header = _header(session.dir)
        modes = {spec.env["IRONCURTAIN_CONFINEMENT"] for spec in session.servers.specs.values()}
    assert header["settings"]["confinement"] == "best-effort"
    assert any('confinement is "best-effort"' in s for s in header["weakening"])
    assert modes == {"best-effort"}


async def test_a_default_session_confines_and_its_servers_still_work(world: World) -> None:
    paths = AppPaths(home=world.app_home, cache=world.app_home / "cache")
    options = SessionOptions(task="t", session_id="mine")
    async with open_session(Config(), paths, options) as session:
        header = _header(session.dir)
        result = await session.servers.call(
            "filesystem", "write_file", {"path": f"{session.sandbox}/a.txt", "content": "hi"}
        )
    assert header["settings"]["confinement"] == "enforce"
    assert not any("confinement" in s for s in header["weakening"])
    assert not result.is_error and (session.sandbox / "a.txt").read_text() == "hi"


def test_servers_learn_where_the_appliance_home_is(world: World) -> None:
    for spec in server_specs(Config(), world.sandbox):
        assert spec.env["IRONCURTAIN_HOME"] == str(world.app_home)
        assert spec.env["IRONCURTAIN_CONFINEMENT"] == "enforce"
