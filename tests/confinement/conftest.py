"""A throwaway world for confinement tests: a home with an SSH key, an appliance home with a
config, two sessions; and a way to run the test double through the real launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class World:
    home: Path
    app_home: Path
    sandbox: Path
    other_sandbox: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "IRONCURTAIN_HOME": str(self.app_home),
            "PYTHONPATH": str(REPO_ROOT),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            **extra,
        }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    app_home = home / ".ironcurtain"
    sandbox = app_home / "sessions" / "mine" / "sandbox"
    other = app_home / "sessions" / "other" / "sandbox"
    for folder in (sandbox, other):
        folder.mkdir(parents=True)
    (other / "secret.txt").write_text("another session's file\n")
    (app_home / "config.json").write_text(json.dumps({"agentModelId": "anthropic:x"}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("IRONCURTAIN_HOME", str(app_home))
    return World(home, app_home, sandbox, other)


SERVER_ARGS = {
    "filesystem": lambda w: [str(w.sandbox)],
    "git": lambda w: ["--base-dir", str(w.sandbox)],
    "fetch": lambda w: [],
    "github": lambda w: [],
    "--no-confine": lambda w: ["filesystem", str(w.sandbox)],
}


def run_double(world: World, server: str, attempts: list[str], **env: str) -> dict[str, str]:
    """Run the double as ``server`` through the launcher; its attempts' outcomes by name."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.confinement.double", server, *SERVER_ARGS[server](world)],
        cwd=world.sandbox,
        env=world.env(DOUBLE_ATTEMPTS=",".join(attempts), **env),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])
