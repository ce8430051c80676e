"""The agent image: a minimal Debian made with `debootstrap --variant=minbase`, Debian's Node,
socat and CA certificates, and the agent's npm package at a pinned version, checked against its
pinned `sha512` integrity before a byte of it is unpacked. No registry pull, ever.

The tag is the SHA-256 of the recipe and of this file (the build script), so changing either
builds a new image; an unchanged one is reused at once. Measured here: debootstrap ~150 s, the
npm tarball a few seconds, pack and import ~30 s. debootstrap needs root (it makes device
nodes and chroots for package scripts), so the first build must run as root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appliance.docker.image import ImageBuildError, image_exists, import_rootfs

__all__ = ["CLAUDE_CODE_RECIPE", "AgentRecipe", "ensure_agent_image"]


@dataclass(frozen=True)
class AgentRecipe:
    name: str
    npm_package: str
    npm_version: str
    npm_integrity: str  # the registry's `dist.integrity` for that version
    npm_bin: tuple[str, str]  # (command name, script inside the package)
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    # git: agents work in git repositories (their own commits, diffs); it has no network here.
    packages: tuple[str, ...] = ("nodejs", "ca-certificates", "socat", "git")

    @property
    def tarball_url(self) -> str:
        short = self.npm_package.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.npm_package}/-/{short}-{self.npm_version}.tgz"

    def digest(self) -> str:
        data = json.dumps(asdict(self), sort_keys=True).encode() + Path(__file__).read_bytes()
        return hashlib.sha256(data).hexdigest()

    def tag(self) -> str:
        return f"ironcurtain-{self.name}:{self.digest()[:16]}"


# 2.0.77 is the last release that is plain JavaScript for Node >= 18 (Debian bookworm ships 18);
# 2.1.x needs Node >= 22 and a per-platform native binary.
CLAUDE_CODE_RECIPE = AgentRecipe(
    name="claude-code",
    npm_package="@anthropic-ai/claude-code",
    npm_version="2.0.77",
    npm_integrity="sha512-qsB3W3wBvS2hRDbsnA7PwPhD+4GhuKMoBeT0vUrcpIPRfqnK8YYrgQ/CcSY8mv6k11M/4492nxh8joMuTTCwqQ==",
    npm_bin=("claude", "cli.js"),
)


def ensure_agent_image(
    client: Any, recipe: AgentRecipe, workdir: Path, progress: Callable[[str], None]
) -> str:
    """Return the recipe's image tag, building it first when it does not exist."""
    tag = recipe.tag()
    if image_exists(client, tag):
        return tag
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"the {recipe.name} image ({tag}) is not built yet, and building it runs "
            "debootstrap, which needs root: run the same command once as root"
        )
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    build = workdir / f"build-{recipe.digest()[:16]}"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True, mode=0o700)
    try:
        rootfs = build / "rootfs"
        progress(f"building {tag} (first use only; a few minutes)")
        _debootstrap(recipe, rootfs, progress)
        progress(f"fetching {recipe.npm_package}@{recipe.npm_version}")
        _install_npm_package(recipe, rootfs, build)
        _finish_rootfs(rootfs)
        progress("packing the root filesystem")
        image_tar = _pack(rootfs, build / "rootfs.tar")
        progress("importing into Docker")
        import_rootfs(client, image_tar, tag, recipe.digest())
    finally:
        shutil.rmtree(build, ignore_errors=True)
    progress(f"built {tag}")
    return tag


def _debootstrap(recipe: AgentRecipe, rootfs: Path, progress: Callable[[str], None]) -> None:
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
            recipe.suite, str(rootfs), recipe.mirror]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last: list[str] = []
    for line in process.stdout or ():
        last = [*last[-19:], line.rstrip()]
        if line.startswith("I: ") and not line.startswith(("I: Retrieving", "I: Validating")):
            progress(f"debootstrap: {line[3:].strip()}")
    if process.wait() != 0:
        raise ImageBuildError("debootstrap failed:\n" + "\n".join(last))


def _install_npm_package(recipe: AgentRecipe, rootfs: Path, build: Path) -> None:
    """Download the pinned tarball, check its integrity, unpack it under /opt/<name>."""
    import httpx

    try:
        response = httpx.get(recipe.tarball_url, follow_redirects=True, timeout=120)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageBuildError(f"download of {recipe.tarball_url} failed: {exc}") from exc
    algorithm, _, expected = recipe.npm_integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, response.content).digest()).decode()
    if actual != expected:
        raise ImageBuildError(
            f"{recipe.tarball_url}: integrity mismatch (expected {recipe.npm_integrity}, "
            f"got {algorithm}-{actual}); refusing to install it"
        )
    tarball = build / "package.tgz"
    tarball.write_bytes(response.content)
    target = rootfs / "opt" / recipe.name
    target.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith("package/"):
                raise ImageBuildError(f"{recipe.tarball_url}: unexpected entry {member.name!r}")
            member.name = member.name[len("package/") :]
            members.append(member)
        archive.extractall(target, members=members, filter="data")
    command, script = recipe.npm_bin
    (target / script).chmod(0o755)
    (rootfs / "usr/local/bin" / command).symlink_to(f"/opt/{recipe.name}/{script}")


def _finish_rootfs(rootfs: Path) -> None:
    """Mount points our containers use; no package caches (size, and nothing to reinstall)."""
    for folder in ("workspace", "run/ironcurtain", "home/agent"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()


def _pack(rootfs: Path, target: Path) -> Path:
    argv = ["tar", "--numeric-owner", "--sort=name", "--mtime=@0", "-C", str(rootfs),
            "-cf", str(target), "."]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageBuildError(f"packing {rootfs} failed: {done.stderr.strip()[-2000:]}")
    return target
