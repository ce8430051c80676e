"""Installing real third-party MCP servers as a user would, once per test run, and building a
policy folder from the shipped policy plus hand-written annotation files
(``tests/declared/data/third_party/NAME.json``: declared roles, a server's tool annotations and
the rules for it, which go before the shipped rules).

npm packages go into one prefix and PyPI packages into one virtual environment made with ``uv``
(what ``uvx`` would do, kept so each start runs the installed program with no index to reach).
``IRONCURTAIN_TEST_NPM_CACHE`` / ``IRONCURTAIN_TEST_PYPI_CACHE`` keep them between runs; with
neither, a temporary folder per run. Without npm, uv or a reachable registry: skip, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policy.loader import default_policy_dir

DATA = Path(__file__).parent / "data" / "third_party"
NPM_PACKAGES = ("@modelcontextprotocol/server-everything",)
PYPI_PACKAGES = ("mcp-server-time", "mcp-server-git")


def npm_install(cache: Path, programs: tuple[str, ...]) -> Path:
    """``node_modules/.bin`` under ``cache`` holding ``programs`` (installed when missing)."""
    bin_dir = cache / "node_modules" / ".bin"
    if all((bin_dir / p).exists() for p in programs):
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), *NPM_PACKAGES],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"npm install failed (registry unreachable?): {done.stderr.strip()[-300:]}")
    return bin_dir


def pypi_install(venv: Path, programs: tuple[str, ...]) -> Path:
    """The ``bin`` folder of a virtual environment holding ``programs`` (installed when missing)."""
    bin_dir = venv / "bin"
    if all((bin_dir / p).exists() for p in programs):
        return bin_dir
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    steps = (
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(bin_dir / "python"), *PYPI_PACKAGES],
    )
    for step in steps:
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        done = subprocess.run(step, capture_output=True, text=True, timeout=300, env=env)
        if done.returncode != 0:
            pytest.skip(f"PyPI install failed (index unreachable?): {done.stderr.strip()[-300:]}")
    return bin_dir


def cache_dir(variable: str, factory: pytest.TempPathFactory, name: str) -> Path:
    chosen = os.environ.get(variable)
    return Path(chosen) if chosen else factory.mktemp(name)


def policy_with(folder: Path, *names: str) -> Path:
    """The shipped policy with the annotation files ``names`` merged in (their rules first)."""
    shipped = default_policy_dir()
    folder.mkdir(parents=True)
    annotations = json.loads((shipped / "tool-annotations.json").read_text())
    compiled = json.loads((shipped / "compiled-policy.json").read_text())
    rules: list[dict] = []
    for name in names:
        fragment = json.loads((DATA / f"{name}.json").read_text())
        annotations.setdefault("roles", {}).update(fragment["roles"])
        annotations["servers"].update(fragment["servers"])
        rules.extend(fragment["rules"])
    compiled["rules"] = [*rules, *compiled["rules"]]
    (folder / "tool-annotations.json").write_text(json.dumps(annotations))
    (folder / "compiled-policy.json").write_text(json.dumps(compiled))
    for extra in ("dynamic-lists.json",):
        if (shipped / extra).exists():
            shutil.copy(shipped / extra, folder / extra)
    return folder


class Refuse:
    """The human at the approval channel, saying no (and remembering what was asked)."""

    def __init__(self) -> None:
        self.asked: list = []

    async def ask(self, request):
        from appliance.chokepoint.escalation.models import Verdict

        self.asked.append(request)
        return Verdict.deny("human", "not now")
