"""The git server over stdio, driven by the real MCP SDK client as the host would start it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_git_support import git, make_repo

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("servers_conftest_for_git", HERE / "conftest.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
stdio_session, result_text = _helpers.stdio_session, _helpers.result_text


@pytest.mark.anyio
async def test_a_session_over_stdio(tmp_path: Path) -> None:
    fx = make_repo(tmp_path)
    async with stdio_session(["git", "--base-dir", str(fx.base)]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        chosen = await session.call_tool("git_set_working_dir", {"path": str(fx.repo)})
        added = await session.call_tool("git_add", {"files": ["a.txt", "new.txt"]})
        committed = await session.call_tool("git_commit", {"message": "over stdio"})
        status = await session.call_tool("git_status", {})
        log = await session.call_tool("git_log", {"maxCount": 1})
        outside = await session.call_tool("git_status", {"path": str(tmp_path)})
        smuggled = await session.call_tool("git_push", {"uploadPack": "touch /tmp/x"})
    assert len(tools) == 28
    push = tools["git_push"].input_schema
    assert push["additionalProperties"] is False and "force" in push["properties"]
    assert tools["git_status"].annotations.read_only_hint is True
    assert tools["git_clean"].annotations.destructive_hint is True
    for result in (chosen, added, committed, status, log):
        assert not result.is_error, result_text(result)
        assert json.loads(result_text(result)) == result.structured_content
    assert committed.structured_content["committedFiles"] == ["a.txt", "new.txt"]
    assert status.structured_content["isClean"] is True
    assert log.structured_content["commits"][0]["subject"] == "over stdio"
    assert git(fx.repo, "log", "-1", "--format=%s").strip() == "over stdio"
    assert outside.is_error and "outside the allowed directory" in result_text(outside)
    assert smuggled.is_error and "unknown argument 'uploadPack'" in result_text(smuggled)


def test_bad_base_dir_is_an_operator_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    run = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "serve", "git", "--base-dir", str(missing)],
        cwd=HERE.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode != 0
    assert f"--base-dir {missing} is not a directory" in run.stderr
    assert "Traceback" not in run.stderr
