"""Images built here, never pulled: a root filesystem packed as a tar and `docker import`ed.

Every image is tagged by the SHA-256 of its inputs, so a changed input (a pinned version, the
build recipe, a binary copied in) gives a new tag and a rebuild, and an unchanged one is found
and reused in milliseconds. The TEST image is built in a second or two from the host's
busybox-static and socat (with the shared libraries socat needs): enough for the test suite to
prove what a container of ours can and cannot reach. The agent image is in `agent_image.py`.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

__all__ = [
    "TEST_IMAGE_REPO",
    "ImageBuildError",
    "RootfsTar",
    "ensure_test_image",
    "image_exists",
    "import_rootfs",
    "prune_other_tags",
]

TEST_IMAGE_REPO = "ironcurtain-test"
BUSYBOX = Path("/bin/busybox")
SOCAT = Path("/usr/bin/socat")
# Applets the tests and the bridge use; each becomes a symlink to busybox.
_APPLETS = (
    "sh", "ls", "cat", "id", "ps", "env", "nc", "wget", "nslookup", "touch", "sleep", "find",
    "grep", "echo", "stat", "ip", "mkdir", "printf", "head", "true", "timeout", "kill", "test",
    "tar", "mount", "rm", "cp", "wc", "mknod", "unshare", "dmesg", "chroot", "nsenter", "ping",
)  # fmt: skip
# What every container of ours expects to find (mount points, a writable HOME on tmpfs).
_DIRS = ("bin", "usr/bin", "tmp", "home/agent", "workspace", "run/ironcurtain", "proc", "dev",
         "sys", "etc")  # fmt: skip


class ImageBuildError(ApplianceError):
    """An image could not be built (operator error: the message names the step and the cause)."""


class RootfsTar:
    """A deterministic tar of a root filesystem: fixed owners and times, entries in given order."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(  # noqa: SIM115 - closed by finish()
            fileobj=self._buffer, mode="w", format=tarfile.GNU_FORMAT
        )

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
        return info

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, mode))

    def file(self, name: str, data: bytes, mode: int = 0o755) -> None:
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._tar.addfile(info)

    def finish(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    built: bool  # False: it already existed


def image_exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def import_rootfs(client: Any, tar_path_or_bytes: Path | bytes, tag: str, digest: str) -> None:
    """`docker import` a root filesystem tar as `tag`, with the settings every container needs."""
    repository, _, version = tag.partition(":")
    changes = [
        "ENV PATH=/usr/local/bin:/usr/bin:/bin",
        "ENV HOME=/home/agent",
        "WORKDIR /workspace",
        f"LABEL ironcurtain.inputs={digest}",
    ]
    try:
        if isinstance(tar_path_or_bytes, bytes):
            client.api.import_image_from_data(tar_path_or_bytes, repository, version, changes)
        else:
            client.api.import_image_from_file(str(tar_path_or_bytes), repository, version, changes)
    except Exception as exc:  # the SDK raises several types; the operator needs the step named
        raise ImageBuildError(f"docker import of {tag} failed: {exc}") from exc
    if not image_exists(client, tag):
        raise ImageBuildError(f"docker import of {tag} reported success but the image is missing")


def prune_other_tags(client: Any, keep: str) -> list[str]:
    """Remove the other tags of `keep`'s repository (older builds: hundreds of MB each). An image
    a container still uses is left alone. Returns the tags removed."""
    import docker.errors

    repository = keep.partition(":")[0]
    removed = []
    for image in client.images.list(name=repository):
        for tag in image.tags:
            if tag != keep and tag.partition(":")[0] == repository:
                try:
                    client.images.remove(tag)
                except docker.errors.APIError:
                    continue  # in use (a container of a running session): keep it
                removed.append(tag)
    return removed


def shared_libraries(binary: Path) -> list[Path]:
    """The loader and libraries `binary` needs, as `ldd` reports them (absolute paths)."""
    out = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    found = []
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/") and Path(word).exists():
                found.append(Path(word))
    return sorted(set(found))


def _add_host_file(tar: RootfsTar, path: Path, seen: set[str]) -> None:
    """Add `path` at the same place in the image, with its parent folders."""
    parts = path.parent.parts[1:]
    for i in range(1, len(parts) + 1):
        folder = "/".join(parts[:i])
        if folder not in seen:
            seen.add(folder)
            tar.directory(folder)
    tar.file(str(path)[1:], path.resolve().read_bytes(), 0o755)


def test_image_tar(files: Iterable[Path] = ()) -> bytes:
    """The TEST image's root filesystem: busybox applets, socat and its libraries, mount points."""
    for needed in (BUSYBOX, SOCAT):
        if not needed.is_file():
            raise ImageBuildError(
                f"{needed} is missing: install busybox-static and socat (see .ci/system-deps)"
            )
    tar = RootfsTar()
    seen: set[str] = set()
    for folder in _DIRS:
        tar.directory(folder, 0o1777 if folder == "tmp" else 0o755)
        seen.add(folder)
    tar.file("bin/busybox", BUSYBOX.read_bytes())
    for applet in _APPLETS:
        tar.symlink(f"bin/{applet}", "busybox")
    for path in [SOCAT, *shared_libraries(SOCAT), *files]:
        _add_host_file(tar, path, seen)
    tar.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    return tar.finish()


def ensure_test_image(client: Any) -> BuiltImage:
    """Build (or find) the TEST image; returns its tag. Takes ~1 s when it must be built."""
    data = test_image_tar()
    digest = hashlib.sha256(data).hexdigest()
    tag = f"{TEST_IMAGE_REPO}:{digest[:16]}"
    if image_exists(client, tag):
        return BuiltImage(tag, built=False)
    import_rootfs(client, data, tag, digest)
    return BuiltImage(tag, built=True)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
