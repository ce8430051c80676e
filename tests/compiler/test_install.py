"""Installing a built policy: all files or none, the engine's loader as the last gate."""

from __future__ import annotations

import json
import shutil

import pytest

from policy.compiler import install
from policy.compiler.errors import CompileError
from policy.loader import default_policy_dir, load_policy
from tests.compiler.support import snapshot


def _shipped_files() -> dict:
    return {
        p.name: json.loads(p.read_text()) for p in default_policy_dir().iterdir() if p.is_file()
    }


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_install_replaces_the_files_and_keeps_the_others(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(install, "_exchange", lambda a, b: False)
    target = tmp_path / "generated"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    install.install_files(target, _shipped_files())
    assert (target / "notes.txt").read_text() == "mine"
    assert load_policy(target).digest == load_policy(default_policy_dir()).digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]  # no staging left


def test_a_policy_the_loader_refuses_is_never_installed(tmp_path):
    target = tmp_path / "generated"
    shutil.copytree(default_policy_dir(), target)
    before = snapshot(target)
    files = _shipped_files()
    files["compiled-policy.json"]["rules"][0]["name"] = "default-deny"
    with pytest.raises(
        CompileError, match=r"^install: the new policy does not load: .*default-deny"
    ):
        install.install_files(target, files)
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]
