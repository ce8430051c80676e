"""The release tarball and SHA256SUMS: same inputs, same bytes, whatever the file system says."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from archive import diff_tarballs, read_sums, reproducible_tarball, sha256_file, write_sums

EPOCH = 1_700_000_000


def _tree(root: Path, stamp: int, mode: int) -> Path:
    """A small one-folder layout: an executable, data, a nested folder and a symlink."""
    (root / "_internal" / "pkg").mkdir(parents=True)
    (root / "ironcurtain").write_bytes(b"\x7fELF fake executable")
    (root / "_internal" / "pkg" / "data.json").write_text('{"a": 1}')
    (root / "_internal" / "libx.so.1").write_bytes(b"library")
    (root / "_internal" / "libx.so").symlink_to("libx.so.1")
    os.chmod(root / "ironcurtain", 0o700)
    os.chmod(root / "_internal" / "pkg" / "data.json", mode)
    for path in [root, *root.rglob("*")]:
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    return root


def test_two_trees_with_other_times_and_modes_give_the_same_bytes(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a" / "ironcurtain", 1_000, 0o600)
    second = _tree(tmp_path / "b" / "ironcurtain", 2_000_000_000, 0o664)
    one = reproducible_tarball(first, tmp_path / "one.tar.gz", "ironcurtain", EPOCH)
    two = reproducible_tarball(second, tmp_path / "two.tar.gz", "ironcurtain", EPOCH)
    assert one.read_bytes() == two.read_bytes()
    assert diff_tarballs(one, two) == []


def test_entries_are_sorted_normalised_and_under_the_top_folder(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "src", 5, 0o600)
    tarball = reproducible_tarball(tree, tmp_path / "t.tar.gz", "ironcurtain", EPOCH)
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "ironcurtain" and names == sorted(names)
    assert all(n == "ironcurtain" or n.startswith("ironcurtain/") for n in names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", EPOCH)}
    by_name = {m.name: m for m in members}
    assert by_name["ironcurtain/ironcurtain"].mode == 0o755
    assert by_name["ironcurtain/_internal/pkg/data.json"].mode == 0o644
    link = by_name["ironcurtain/_internal/libx.so"]
    assert link.issym() and link.linkname == "libx.so.1"


def test_gzip_header_has_no_name_and_no_time(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "src", 5, 0o644)
    data = reproducible_tarball(tree, tmp_path / "t.tar.gz", "x", EPOCH).read_bytes()
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert (flags & 0x08, mtime) == (0, 0)  # FNAME unset, MTIME 0: what `gzip -n` writes
    assert gzip.decompress(data)  # and it is a valid gzip stream


def test_the_real_tar_extracts_it_with_the_executable_runnable(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "src", 5, 0o644)
    tarball = reproducible_tarball(tree, tmp_path / "t.tar.gz", "ironcurtain", EPOCH)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(tarball), "-C", str(out)], check=True)
    assert os.access(out / "ironcurtain" / "ironcurtain", os.X_OK)
    assert (out / "ironcurtain" / "_internal" / "libx.so").read_bytes() == b"library"


def test_a_changed_file_is_named_by_the_comparison(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a", 5, 0o644)
    second = _tree(tmp_path / "b", 5, 0o644)
    (second / "_internal" / "pkg" / "data.json").write_text('{"a": 2}')
    (second / "_internal" / "extra").write_text("new")
    one = reproducible_tarball(first, tmp_path / "one.tar.gz", "ic", EPOCH)
    two = reproducible_tarball(second, tmp_path / "two.tar.gz", "ic", EPOCH)
    assert diff_tarballs(one, two) == [
        "only in two.tar.gz: ic/_internal/extra",
        "differs: ic/_internal/pkg/data.json (content)",
    ]


def test_archiving_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        reproducible_tarball(tmp_path / "nope", tmp_path / "t.tar.gz", "x", EPOCH)


def test_sums_are_sorted_and_verify_with_sha256sum(tmp_path: Path) -> None:
    b = tmp_path / "b.bin"
    a = tmp_path / "a.tar.gz"
    b.write_bytes(b"bbb")
    a.write_bytes(b"aaa")
    sums = write_sums([b, a], tmp_path / "SHA256SUMS")
    lines = sums.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["a.tar.gz", "b.bin"]
    assert read_sums(sums) == {"a.tar.gz": sha256_file(a), "b.bin": sha256_file(b)}
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=tmp_path, check=True)


def test_two_artifacts_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("1")
    (tmp_path / "f").write_text("2")
    with pytest.raises(ValueError, match="share a name"):
        write_sums([tmp_path / "f", tmp_path / "x" / "f"], tmp_path / "SHA256SUMS")


@pytest.mark.parametrize("line", ["abc  file", "0" * 64 + " file", "0" * 64 + "  ", ""])
def test_a_malformed_sums_line_is_an_error_naming_the_line(tmp_path: Path, line: str) -> None:
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{'1' * 64}  ok\n{line}\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS:2"):
        read_sums(sums)
