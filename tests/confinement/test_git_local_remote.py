"""Remotes that are local paths work under confinement, and the shell git starts them through
runs nothing else (servers/git/far_side.py, appliance/confinement/shell.py).

git starts the far side of a local transport as ``/bin/sh -c "…upload-pack '<path>'"``; the git
server's profile executes no shell, so before this stand-in every push, fetch and clone of a
local path failed with "cannot exec … Permission denied" under confinement. That the stand-in
runs nothing else is shown by tests/servers/test_git_far_side.py (its vectors) and by the F1
replay (tests/confinement/test_git_f1_replay.py), whose filter is an ``sh -c`` command.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.confinement.conftest import World
from tests.servers.conftest import result_text, stdio_session

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _heads(repo: Path) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "for-each-ref", "--format=%(refname)", "refs/heads"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


async def test_push_fetch_and_clone_of_a_local_path_work_confined(world: World) -> None:
    s = world.sandbox
    async with stdio_session(["git", "--base-dir", str(s)], env=world.env(), cwd=s) as git:

        async def call(tool: str, **args: object) -> str:
            result = await git.call_tool(tool, args)
            assert not result.is_error, result_text(result)
            return result_text(result)

        await call("git_init", path=f"{s}/w")
        (s / "w" / "f.txt").write_text("hello\n")
        await call("git_add", path=f"{s}/w", files=["f.txt"])
        await call("git_commit", path=f"{s}/w", message="first")
        await call("git_init", path=f"{s}/far.git", bare=True)
        await call("git_remote", path=f"{s}/w", mode="add", name="origin", url=f"{s}/far.git")
        await call("git_push", path=f"{s}/w", remote="origin", branch="master")
        assert "refs/heads/master" in _heads(s / "far.git")
        await call("git_fetch", path=f"{s}/w", remote="origin")
        await call("git_clone", url=f"file://{s}/far.git", localPath=f"{s}/copy")
        assert (s / "copy" / "f.txt").read_text() == "hello\n"
