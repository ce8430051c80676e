"""Files the agent wrote in its workspace never run as the host when a server starts there
(vectors: tests/vectors/entry/workspace_code.json). Found by the lead: `python -m appliance.cli
serve` started in the workspace imported an `appliance/__init__.py` the agent had written, before
the server confined itself — host code in two tool calls (write the file, call a server not yet
started)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.server_pool import ServerCallError, ServerPool
from appliance.config.settings import Config, config_from_data
from appliance.session.core import server_specs
from tests.declared.test_declared_confinement import _profile

HERE = Path(__file__).parent
VECTORS = json.loads((HERE.parent / "vectors" / "entry" / "workspace_code.json").read_text())[
    "cases"
]


def _config(kind: str, tmp_path: Path) -> Config:
    if kind in ("filesystem", "git"):
        return Config()
    outbox = tmp_path / "out" / "outbox.jsonl"
    outbox.parent.mkdir(exist_ok=True)
    if kind == "declared-confined":
        entry = {"command": sys.executable, "args": [str(HERE / "mail_server.py")],
                 "env": {"MAIL_OUTBOX": str(outbox)},
                 "confinement": _profile(outbox.parent)}  # fmt: skip
    else:  # an unconfined server started as a module, as `python -m some_server` would be
        entry = {"command": sys.executable, "args": ["-m", "probe"]}
    return config_from_data({"mcpServers": {"probe": entry}}, tmp_path / "config.json")


async def _start(kind: str, config: Config, sandbox: Path) -> None:
    name = kind if kind in ("filesystem", "git") else "probe"
    specs = [s for s in server_specs(config, sandbox) if s.name == name]
    async with ServerPool(specs, start_timeout_s=60) as pool:
        tools = await pool.tools(name)
        assert tools  # it started and listed its tools


@pytest.mark.parametrize("case", VECTORS, ids=[c["description"][:60] for c in VECTORS])
def test_the_agents_files_never_run_when_a_server_starts(case, tmp_path, monkeypatch):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    marker = tmp_path / "marker"
    for name, code in case["files"].items():
        path = sandbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code.replace("{marker!r}", repr(str(marker))))
    monkeypatch.chdir(sandbox)  # the host runs in the project folder, the agent's workspace
    config = _config(case["server"], tmp_path)
    if case["expect"] == "works":
        anyio.run(_start, case["server"], config, sandbox)
    else:
        with pytest.raises(BaseExceptionGroup) as failed:
            anyio.run(_start, case["server"], config, sandbox)
        assert failed.group_contains(ServerCallError, match="did not start")
    assert not marker.exists(), "the agent's file ran as the host"


@pytest.mark.parametrize("path_entry", ["", ".", "bin"])
def test_a_relative_path_entry_never_finds_the_agents_program(path_entry, tmp_path):
    """A declared server named by a bare command (`npx`, `uvx`...) is looked up on PATH from
    the sandbox, its working folder: with an empty or relative entry in the user's PATH, a
    program of that name the agent wrote there would be what runs. The process drops such
    entries when it starts."""
    sandbox = tmp_path / "sandbox"
    (sandbox / "bin").mkdir(parents=True)
    marker = tmp_path / "marker"
    for folder in (sandbox, sandbox / "bin"):
        program = folder / "probe-server"
        program.write_text(f"#!/bin/sh\necho ran > {marker}\n")
        program.chmod(0o755)
    profile = {**_profile(tmp_path), "write": [str(tmp_path)]}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = path_entry + os.pathsep + os.environ["PATH"]
    done = subprocess.run(
        [sys.executable, "-P", "-m", "appliance.cli", "confine", "--name", "probe",
         "--profile-json", json.dumps(profile), "--", "probe-server"],
        cwd=sandbox, env=env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert not marker.exists(), "the agent's program ran in place of the declared server"
    assert done.returncode == 127 and "'probe-server' not found" in done.stderr, done.stderr
