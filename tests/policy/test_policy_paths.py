"""The on-disk resolver's short roads give exactly ``os.path.realpath``'s answer."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.paths import ProtectedPaths, components, is_env_file, resolve_on_disk

NAMES = ["d", "f", "to_d", "to_f", "dangling", "loop", "up", "missing", "new", "..", ".", ""]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    (root / "d" / "d").mkdir(parents=True)
    (root / "f").write_text("x")
    (root / "d" / "f").write_text("x")
    os.symlink(root / "d", root / "to_d")
    os.symlink("f", root / "d" / "to_f")
    os.symlink(root / "nowhere" / "file", root / "dangling")
    os.symlink("loop", root / "loop")
    os.symlink("..", root / "d" / "up")
    return root


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.sampled_from(NAMES), max_size=7))
def test_resolver_matches_realpath(tree: Path, parts: list[str]) -> None:
    path = str(tree) + "/" + "/".join(parts)
    assert resolve_on_disk(path) == posixpath.realpath(path)


def test_resolver_expands_the_given_home(tree: Path) -> None:
    assert resolve_on_disk("~/to_d/f", home=str(tree)) == str(tree / "d" / "f")


def test_components_normalise_only_what_needs_it() -> None:
    assert components("/") == ()
    assert components("/a/b") == ("a", "b")
    assert components("//a/./b/../c/") == ("a", "c")
    assert components("/a/.env") == ("a", ".env")


def test_protected_patterns_match_components_and_report_ancestors() -> None:
    trie = ProtectedPaths((("h", "config.json"), ("h", "s", "*", "audit.jsonl")))
    assert trie.check(("h", "config.json")) == (True, False)
    assert trie.check(("h", "config.json", "x")) == (True, False)
    assert trie.check(("h", "s", "any", "audit.jsonl")) == (True, False)
    assert trie.check(("h", "s", "any")) == (False, True)
    assert trie.check(("h",)) == (False, True)
    assert trie.check(()) == (False, True)
    assert trie.check(("h", "config.json2")) == (False, False)
    assert trie.check(("h", "s", "a", "b", "audit.jsonl")) == (False, False)
    assert ProtectedPaths(()).check(()) == (False, False)


def test_env_files() -> None:
    assert is_env_file(("x", ".env")) and is_env_file((".Env.local",))
    assert not is_env_file((".envrc",)) and not is_env_file(())
