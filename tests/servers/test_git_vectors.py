"""Adversarial arguments (``tests/vectors/git/arguments.json``) are refused with a clear error.

Every case runs against the same layout: a base directory holding a repository and some traps
(a symlink out, a ``.git`` file and a ``.git`` symlink naming a git directory outside, object
alternates outside, a bare repository with ``core.worktree``), a repository outside the base,
and a sibling directory whose name extends the base's. The test directory itself is a repository,
so git's own discovery would find it from any directory of the base that is not one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_git_support import GitServer, git, make_repo

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "git" / "arguments.json"
CASES = json.loads(VECTORS.read_text())["cases"]


def _layout(root: Path) -> dict[str, str]:
    fx = make_repo(root)
    git(root, "init", "-q")  # the directory around the base is a repository too
    outside = root / "outside"
    outside.mkdir()
    git(outside, "init", "-q")
    git(outside, "commit", "-q", "--allow-empty", "-m", "outside")
    (root / "base-evil").mkdir()
    git(root / "base-evil", "init", "-q")
    (fx.base / "link_out").symlink_to(outside)
    (fx.base / "gitfile").mkdir()
    (fx.base / "gitfile" / ".git").write_text(f"gitdir: {outside / '.git'}\n")
    (fx.base / "gitlink").mkdir()
    (fx.base / "gitlink" / ".git").symlink_to(outside / ".git")
    git(fx.base, "clone", "-q", "--shared", str(outside), "altrepo")
    git(fx.base, "init", "-q", "--bare", "wt.git")
    git(fx.base / "wt.git", "config", "core.worktree", str(root))
    (fx.base / "plain").mkdir()
    (fx.base / "fifo").mkdir()
    os.mkfifo(fx.base / "fifo" / ".git")
    git(fx.base, "clone", "-q", "--shared", str(fx.base / "altrepo"), "altchain")
    return {"root": str(root), "base": str(fx.base), "repo": str(fx.repo), "outside": str(outside)}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in names.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _tree(directory: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(directory)), p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in directory.rglob("*")
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _layout(tmp_path_factory.mktemp("git-vectors"))


@pytest.fixture(scope="module")
def server(layout: dict[str, str]) -> GitServer:
    # One server for all cases: each is refused before git runs, so none changes its state.
    server = GitServer("--base-dir", layout["base"])
    server.ok("git_set_working_dir", path=layout["repo"])
    return server


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_adversarial_argument_is_refused(
    case: dict[str, Any], layout: dict[str, str], server: GitServer
) -> None:
    outside = Path(layout["outside"])
    before = _tree(outside)
    message = server.error(case["tool"], **_fill(case["arguments"], layout))
    assert case["error"] in message
    assert "Traceback" not in message
    assert _tree(outside) == before


def test_the_layout_traps_are_live(layout: dict[str, str]) -> None:
    # Without the server's checks plain git does follow each trap, so the vectors test something.
    base = Path(layout["base"])
    assert git(base / "gitfile", "rev-parse", "--git-dir").strip() == layout["outside"] + "/.git"
    assert "outside" in git(base / "altrepo", "log", "-1", "--format=%s")
    toplevel = git(base / "plain", "rev-parse", "--show-toplevel").strip()
    assert toplevel == layout["root"]


def test_vectors_are_many_and_distinct() -> None:
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
