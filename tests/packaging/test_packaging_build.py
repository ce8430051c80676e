"""The build script's own logic (time stamp, environment), without running PyInstaller."""

from __future__ import annotations

import subprocess
from pathlib import Path

import build
import pytest


def test_source_date_epoch_is_taken_from_the_environment_first() -> None:
    assert build.source_date_epoch(environ={"SOURCE_DATE_EPOCH": "1234"}) == 1234


def test_a_bad_source_date_epoch_is_an_error_naming_it() -> None:
    with pytest.raises(build.BuildError, match="'yesterday'"):
        build.source_date_epoch(environ={"SOURCE_DATE_EPOCH": "yesterday"})


def test_source_date_epoch_is_the_last_commit_time(tmp_path: Path) -> None:
    def git(*args: str, **env: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, env=env)

    git("init", "-q")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    stamp = {"GIT_COMMITTER_DATE": "@1600000000 +0000", "GIT_AUTHOR_DATE": "@1500000000 +0000"}
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    git("commit", "-qm", "one", **stamp, **ident, GIT_COMMITTER_EMAIL="t@t", HOME=str(tmp_path))
    assert build.source_date_epoch(tmp_path, environ={}) == 1600000000


def test_no_commit_and_no_variable_is_an_error_saying_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="set SOURCE_DATE_EPOCH"):
        build.source_date_epoch(tmp_path, environ={})


def test_the_build_environment_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    env = build.build_environment(42, ("onedir",))
    assert env["SOURCE_DATE_EPOCH"] == "42" and env["PYTHONHASHSEED"] == "0"
    assert env["TZ"] == "UTC" and env["IRONCURTAIN_BUILD_MODES"] == "onedir"
    # the spec imports litellm to list its modules: it must not reach for the internet
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert "PYTHONPATH" not in env


def test_building_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="nothing to build"):
        build.build(tmp_path, ())


def test_the_spec_reads_every_input_from_the_manifest() -> None:
    spec = (build.PACKAGING / "ironcurtain.spec").read_text()
    for used in ("manifest.app_datas(", "manifest.third_party_datas()",
                 "manifest.wasmtime_binaries()", "manifest.EXCLUDED_MODULES",
                 "manifest.EXCLUDED_BINARIES", "rthook_offline.py"):  # fmt: skip
        assert used in spec


def test_a_given_guest_is_staged_under_its_bundled_name(tmp_path: Path) -> None:
    given = tmp_path / "release-guest.bin"
    given.write_bytes(b"\0asm fake")
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = build._guest(given, staging)
    assert staged == staging / "guest.wasm" and staged.read_bytes() == b"\0asm fake"


def test_a_missing_given_guest_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match=r"nope\.wasm: no such file"):
        build._guest(tmp_path / "nope.wasm", tmp_path)


def test_a_snapshot_holds_the_committed_tree_and_nothing_else(tmp_path: Path) -> None:
    tree = build.snapshot(tmp_path / "src", build.head_commit())
    assert (tree / "packaging" / "ironcurtain.spec").is_file()
    assert (tree / "policy" / "generated" / "compiled-policy.json").is_file()
    assert not (tree / ".venv").exists() and not (tree / ".git").exists()
    assert not (tree / "wasm_guest" / "build_out").exists()  # ignored: the guest is passed in


def test_compare_names_what_differs_between_two_build_folders(tmp_path: Path, capsys) -> None:
    from archive import reproducible_tarball, write_sums

    outs = []
    for label, text in (("a", "same"), ("b", "same"), ("c", "other")):
        tree = tmp_path / label / "tree"
        tree.mkdir(parents=True)
        (tree / "file.txt").write_text(text)
        out = tmp_path / label / "out"
        out.mkdir()
        tarball = reproducible_tarball(tree, out / "ironcurtain-0-test.tar.gz", "ironcurtain", 1)
        write_sums([tarball], out / build.SUMS_NAME)
        outs.append(out)
    assert build.main(["--compare", str(outs[0]), str(outs[1])]) == 0
    assert build.main(["--compare", str(outs[0]), str(outs[2])]) == 1
    assert "ironcurtain/file.txt" in capsys.readouterr().err


def test_sort_zip_orders_members_and_keeps_their_bytes(tmp_path: Path) -> None:
    import zipfile

    from archive import sort_zip

    path = tmp_path / "lib.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("b.pyc", "a/__init__.pyc", "c.pyc"):
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), name.encode())
    sort_zip(path)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["a/__init__.pyc", "b.pyc", "c.pyc"]
        assert [zf.read(n) for n in zf.namelist()] == [b"a/__init__.pyc", b"b.pyc", b"c.pyc"]
