"""Byte-for-byte reproducible release files: the tarball, the checksum manifest, and a comparison.

A tarball made by ``tar czf`` carries the build machine's clock, user names, file order and the
gzip header's own timestamp. Here every entry is written in sorted order with the commit's time,
uid/gid 0 and no names, modes reduced to 0755/0644, and gzip without a name or a time (what
``gzip -n`` does). Symbolic links stay links (PyInstaller's one-folder layout uses them).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "diff_tarballs",
    "read_sums",
    "reproducible_tarball",
    "sha256_file",
    "sort_zip",
    "write_sums",
]

_CHUNK = 1 << 20


def _entries(folder: Path) -> list[Path]:
    """Every path under ``folder`` (itself included), sorted by its relative POSIX name."""
    found = [folder, *folder.rglob("*")]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _normalise(info: tarfile.TarInfo, mtime: int) -> tarfile.TarInfo:
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isdir() or info.mode & 0o111:
        info.mode = 0o755
    else:
        info.mode = 0o644
    return info


def reproducible_tarball(folder: Path, target: Path, top: str, mtime: int) -> Path:
    """Write ``folder`` as ``target`` (.tar.gz) with every entry under ``top/``; return target."""
    if not folder.is_dir():
        raise FileNotFoundError(f"nothing to archive: {folder} is not a folder")
    partial = target.with_name(f".{target.name}.partial")
    with (
        partial.open("wb") as out,
        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=out, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w|", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path in _entries(folder):
            relative = path.relative_to(folder).as_posix()
            name = top if relative == "." else f"{top}/{relative}"
            info = _normalise(tar.gettarinfo(str(path), arcname=name), mtime)
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    os.replace(partial, target)
    return target


def sort_zip(path: Path) -> Path:
    """Rewrite a zip archive with its members in name order, each member kept as it was.

    PyInstaller writes ``base_library.zip`` in the order its module graph was walked, which two
    environments of one commit do not always share (seen: same members, same bytes, another
    order), and that archive is inside both artifacts.
    """
    with zipfile.ZipFile(path) as original:
        members = sorted(
            ((info, original.read(info)) for info in original.infolist()),
            key=lambda pair: pair[0].filename,
        )
    with zipfile.ZipFile(path, "w") as rewritten:
        for info, data in members:
            rewritten.writestr(info, data)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_sums(files: Iterable[Path], target: Path) -> Path:
    """``sha256sum``-compatible manifest of ``files`` (by base name, sorted), written to target."""
    paths = sorted(files, key=lambda p: p.name)
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise ValueError(f"two artifacts share a name: {names}")
    lines = [f"{sha256_file(p)}  {p.name}\n" for p in paths]
    target.write_text("".join(lines), encoding="ascii")
    return target


def read_sums(path: Path) -> dict[str, str]:
    """Parse a manifest written by ``write_sums`` (or ``sha256sum``): name -> hex digest."""
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ValueError(f"{path}:{number}: not a 'digest  name' line: {line!r}")
        sums[name.lstrip("*")] = digest
    return sums


def _members(tarball: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (content digest or link target, mode, mtime) for every member of a tarball."""
    found: dict[str, tuple[str, int, int]] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for info in tar:
            if info.isreg():
                handle = tar.extractfile(info)
                assert handle is not None  # a regular member always has content
                content = hashlib.sha256(handle.read()).hexdigest()
            else:
                content = f"{info.type!r}->{info.linkname}"
            found[info.name] = (content, info.mode, info.mtime)
    return found


def diff_tarballs(first: Path, second: Path) -> list[str]:
    """The members that differ between two tarballs, one line each (empty: same contents)."""
    a, b = _members(first), _members(second)
    lines = [f"only in {first.name}: {name}" for name in sorted(a.keys() - b.keys())]
    lines += [f"only in {second.name}: {name}" for name in sorted(b.keys() - a.keys())]
    for name in sorted(a.keys() & b.keys()):
        pairs = zip(("content", "mode", "mtime"), a[name], b[name], strict=True)
        what = [field for field, x, y in pairs if x != y]
        if what:
            lines.append(f"differs: {name} ({', '.join(what)})")
    return lines
