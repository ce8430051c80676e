"""Deterministic check-then-use swaps: the race test's windows, hit on purpose.

A hook on one ``os`` call swaps a path at exactly the worst moment (after the server resolved it,
before it opens, creates or renames), then lets the call run. Each test asserts the hook fired,
so none can pass by missing its window.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.conftest import filesystem_server, invoke

SECRET = "TOP-SECRET"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "root" / "d").mkdir(parents=True)
    (tmp_path / "root" / "d" / "f").write_text("inside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text(SECRET + "\n")
    (tmp_path / "outside" / "f").write_text(SECRET + " f\n")
    return tmp_path


def _hook(monkeypatch, name: str, when: Callable[..., bool], action: Callable[[], None]) -> list:
    real = getattr(os, name)
    fired: list[bool] = []

    def hooked(*args, **kwargs):
        if not fired and when(*args, **kwargs):
            fired.append(True)
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, hooked)
    return fired


def _outside_unchanged(tree: Path) -> None:
    assert sorted(p.name for p in (tree / "outside").iterdir()) == ["f", "secret"]
    assert (tree / "outside" / "secret").read_text() == SECRET + "\n"
    assert (tree / "outside" / "f").read_text() == SECRET + " f\n"


def _swap_dir_for_link(tree: Path) -> Callable[[], None]:
    def action() -> None:
        os.rename(tree / "root" / "d", tree / "root" / "d_moved")
        os.symlink(tree / "outside", tree / "root" / "d")

    return action


def _final_open(name: str) -> Callable[..., bool]:
    return lambda path, flags, *a, **k: path == name and bool(flags & getattr(os, "O_PATH", 0))


def test_parent_swapped_after_resolution_reads_the_held_directory(tree, monkeypatch) -> None:
    fired = _hook(monkeypatch, "open", _final_open("f"), _swap_dir_for_link(tree))
    result = invoke(filesystem_server(tree / "root"), "read_text_file", path="d/f")
    assert fired
    assert not result.is_error and result.text == "inside\n"  # the directory we resolved


def test_file_swapped_for_a_link_before_open_is_refused(tree, monkeypatch) -> None:
    victim = tree / "root" / "d" / "f"

    def action() -> None:
        victim.unlink()
        victim.symlink_to(tree / "outside" / "secret")

    fired = _hook(monkeypatch, "open", _final_open("f"), action)
    result = invoke(filesystem_server(tree / "root"), "read_text_file", path="d/f")
    assert fired
    assert result.is_error and "symbolic link (it changed during the call)" in result.text


def test_file_swapped_for_a_fifo_before_open_is_refused_without_hanging(tree, monkeypatch) -> None:
    victim = tree / "root" / "d" / "f"

    def action() -> None:
        victim.unlink()
        os.mkfifo(victim)

    fired = _hook(monkeypatch, "open", _final_open("f"), action)
    result = invoke(filesystem_server(tree / "root"), "read_text_file", path="d/f")
    assert fired
    assert result.is_error and "not a regular file" in result.text


def test_target_swapped_for_a_link_before_rename_is_replaced_not_followed(
    tree, monkeypatch
) -> None:
    victim = tree / "root" / "d" / "f"

    def action() -> None:
        victim.unlink()
        victim.symlink_to(tree / "outside" / "secret")

    fired = _hook(monkeypatch, "rename", lambda src, dst, **k: dst == "f", action)
    result = invoke(filesystem_server(tree / "root"), "write_file", path="d/f", content="new\n")
    assert fired
    # Either refused by the last-moment check or the link itself replaced: never followed.
    assert result.is_error or (not victim.is_symlink() and victim.read_text() == "new\n")
    _outside_unchanged(tree)


def test_parent_swapped_before_temp_file_writes_into_the_held_directory(tree, monkeypatch) -> None:
    def creating_temp(path, flags, *a, **k) -> bool:
        return (
            isinstance(path, str) and path.startswith(".ironcurtain-") and bool(flags & os.O_EXCL)
        )

    fired = _hook(monkeypatch, "open", creating_temp, _swap_dir_for_link(tree))
    result = invoke(filesystem_server(tree / "root"), "write_file", path="d/new", content="x")
    assert fired and not result.is_error, result.text
    assert (tree / "root" / "d_moved" / "new").read_text() == "x"
    _outside_unchanged(tree)


def test_parent_swapped_during_mkdir_walk_stays_inside(tree, monkeypatch) -> None:
    fired = _hook(
        monkeypatch,
        "mkdir",
        lambda path, *a, **k: path == "sub",
        _swap_dir_for_link(tree),
    )
    result = invoke(filesystem_server(tree / "root"), "create_directory", path="d/sub/deeper")
    assert fired and not result.is_error, result.text
    assert (tree / "root" / "d_moved" / "sub" / "deeper").is_dir()
    _outside_unchanged(tree)


def test_source_swapped_during_move_is_detected(tree, monkeypatch) -> None:
    source = tree / "root" / "d" / "f"

    def action() -> None:
        source.rename(source.with_name("kept"))  # kept alive, so its inode number is not reused
        source.write_text("swapped in\n")

    fired = _hook(monkeypatch, "link", lambda *a, **k: True, action)
    result = invoke(filesystem_server(tree / "root"), "move_file", source="d/f", destination="g")
    assert fired
    assert result.is_error and "changed during the move" in result.text
    assert source.read_text() == "swapped in\n" and not (tree / "root" / "g").exists()
