"""The smoke test's environment really has no Python on PATH (the frozen app must not need one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from smoke import SmokeFailure, clean_environment, python_free_path


def test_the_path_keeps_system_tools_and_drops_every_python(tmp_path: Path) -> None:
    path = python_free_path(tmp_path / "bin")
    assert shutil.which("git", path=path) and shutil.which("sh", path=path)
    for name in ("python", "python3", "python3.11", "pip3", "pydoc3"):
        assert shutil.which(name, path=path) is None


def test_the_environment_is_empty_but_for_what_the_app_needs(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    assert set(env) == {"PATH", "HOME", "IRONCURTAIN_HOME", "LANG", "TMPDIR"}
    assert env["HOME"].startswith(str(tmp_path))


def test_a_python_left_on_path_fails_the_smoke_set_up(tmp_path: Path) -> None:
    fake = tmp_path / "src"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\n")
    (fake / "python3").chmod(0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(fake / "python3")  # already there: not filtered
    with pytest.raises(SmokeFailure, match="Python is still reachable"):
        clean_environment(tmp_path)
