"""Round-16 attacks on the git server (in memory, real git); each test is a reproducer that
failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_support import GitServer, git

SECRET = "OPENAI_API_KEY=sk-TOPSECRET-s16"


def _repo_with_subdir(tmp_path: Path, tracked: bool) -> tuple[GitServer, Path]:
    base = tmp_path / "base"
    work = base / "w"
    (work / "sub").mkdir(parents=True)
    git(work, "init", "-q")
    (work / "sub" / "a.txt").write_text("a\n")
    (work / ".env").write_text(SECRET + "\n")
    git(work, "add", "-A")
    if not tracked:
        git(work, "rm", "-q", "--cached", ".env")
    git(work, "commit", "-qm", "first")
    if tracked:
        (work / ".env").write_text(SECRET + "-changed\n")
    return GitServer("--base-dir", base), work


@pytest.mark.parametrize("spec", [":/", ":(top)*", "../*", "..", ":(top,icase)*"])
def test_add_from_a_subdirectory_never_stages_the_top_level_env(tmp_path, spec) -> None:
    # The .env excludes were relative to the directory git ran in: from w/sub they only
    # excluded w/sub/**/.env, and ':/' staged (then diffed) the top-level .env.
    server, work = _repo_with_subdir(tmp_path, tracked=False)
    server.call("git_add", path=str(work / "sub"), files=[spec])
    assert ".env" not in git(work, "diff", "--cached", "--name-only").split()
    _, data = server.call("git_diff", path=str(work / "sub"), staged=True, paths=[spec])
    assert SECRET not in str(data)


@pytest.mark.parametrize("spec", [":/", "../*", ".."])
def test_diff_and_show_from_a_subdirectory_never_show_a_tracked_env(tmp_path, spec) -> None:
    server, work = _repo_with_subdir(tmp_path, tracked=True)
    sub = str(work / "sub")
    for call in (
        lambda: server.call("git_diff", path=sub, paths=[spec]),
        lambda: server.call("git_diff", path=sub),
        lambda: server.call("git_show", path=sub, object="HEAD"),
        lambda: server.call("git_diff", path=sub, source="HEAD~0", paths=[spec]),
    ):
        _, data = call()
        assert "TOPSECRET" not in str(data)


def test_checkout_from_a_subdirectory_never_restores_the_top_level_env(tmp_path) -> None:
    server, work = _repo_with_subdir(tmp_path, tracked=True)
    server.call("git_checkout", path=str(work / "sub"), target="HEAD", paths=[":/"], force=True)
    assert (work / ".env").read_text() == SECRET + "-changed\n"
