"""Helpers for the git server's tests: real repositories built with plain git, the server in memory.

(Named test_git_* so it sits with the git tests; it holds no tests itself.)

``make_repo(root)`` builds, under ``root/base``: ``repo`` (branch main with three commits, a
branch ``side`` that conflicts with main on a.txt, a modified a.txt and an untracked new.txt,
remote ``origin``) and ``origin.git`` (bare, with main and side). ``GitServer`` drives
``servers.git.build_server`` in memory and decodes the JSON results.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers.git import build_server

HOOK_NAMES = [
    *("applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit"),
    *("prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout"),
    *("post-merge", "pre-push", "pre-receive", "update", "proc-receive", "post-receive"),
    *("post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc"),
    *("post-rewrite", "post-index-change", "fsmonitor-watchman"),
]


def plain_env(home: Path) -> dict[str, str]:
    """An environment for plain git in tests: no user or system config, a fixed identity."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }


def git(cwd: Path, *args: str, check: bool = True, timeout: float = 20) -> str:
    """Plain git, for building fixtures and for control runs (never through the server)."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=plain_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class Fixture:
    root: Path
    base: Path
    repo: Path
    bare: Path


def make_repo(root: Path) -> Fixture:
    """A copy of one template built once per process (building takes ~20 git commands)."""
    template = _template()
    shutil.copytree(template.base, root / "base", symlinks=True)
    base = root / "base"
    return Fixture(root, base, base / "repo", base / "origin.git")


@functools.cache
def _template() -> Fixture:
    root = Path(tempfile.mkdtemp(prefix="git-template-"))
    atexit.register(shutil.rmtree, root, True)
    return _build(root)


def _build(root: Path) -> Fixture:
    base = root / "base"
    repo = base / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "--initial-branch=main")
    (repo / "a.txt").write_text("one\n")
    (repo / "b.txt").write_text("bee\n")
    git(repo, "add", "a.txt", "b.txt")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "a.txt").write_text("side\n")
    git(repo, "commit", "-q", "-am", "side change")
    git(repo, "checkout", "-q", "main")
    (repo / "a.txt").write_text("main\n")
    git(repo, "commit", "-q", "-am", "main change")
    (repo / "b.txt").write_text("bee\nbuzz\n")
    git(repo, "commit", "-q", "-am", "third")
    bare = base / "origin.git"
    git(base, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    git(repo, "remote", "add", "origin", "../origin.git")  # relative: copies stay self-contained
    git(repo, "push", "-q", "origin", "main", "side")
    (repo / "a.txt").write_text("main\nlocal\n")
    (repo / "new.txt").write_text("untracked\n")
    return Fixture(root, base, repo, bare)


def write_hooks(directory: Path, mark: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in HOOK_NAMES:
        hook = directory / name
        hook.write_text(f'#!/bin/sh\ntouch "{mark}/hook-{name}"\n')
        hook.chmod(0o755)


class GitServer:
    """The server in memory: ``call`` answers (is_error, decoded JSON or the error text)."""

    def __init__(self, *argv: str | Path) -> None:
        self.server = build_server([str(a) for a in argv])

    def call(self, tool: str, **arguments: Any) -> tuple[bool, Any]:
        result = self.server.invoke({"name": tool, "arguments": arguments})
        if result.is_error:
            return True, result.text
        assert result.structured == json.loads(result.text)
        return False, result.structured

    def ok(self, tool: str, **arguments: Any) -> Any:
        is_error, data = self.call(tool, **arguments)
        assert not is_error, f"{tool} failed: {data}"
        return data

    def error(self, tool: str, **arguments: Any) -> str:
        is_error, data = self.call(tool, **arguments)
        assert is_error, f"{tool} should have failed but answered {data}"
        return data
