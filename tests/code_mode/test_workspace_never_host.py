"""A `.env` the agent wrote in the project folder never configures the host (vectors:
tests/vectors/entry/workspace_dotenv.json). litellm, imported in its default mode, loads `.env`
into the process environment — in the built (frozen) executable from the current folder and its
parents; `ironcurtain start` runs
in the user's project folder, which is the agent's workspace. The appliance package fixes
litellm's mode before anything imports it — the child here gets an environment without that
setting, so the process must set it itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.agent.scripted_llm import ScriptedLLM

# As the built executable runs: PyInstaller sets sys.frozen, and python-dotenv then searches
# from the current folder (from a source install it searches from litellm's own folder).


@pytest.fixture(scope="module")
def frozen_cli(tmp_path_factory) -> list[str]:
    """The appliance as the frozen executable runs: ``sys.frozen`` set, and ``sys.executable``
    the program itself, so the processes it starts (servers, the model worker) run as it does."""
    launcher = tmp_path_factory.mktemp("frozen") / "ironcurtain"
    launcher.write_text(
        f"#!{sys.executable} -P\n"
        "import sys\n"
        "sys.frozen = True\n"
        f"sys.executable = {str(launcher)!r}\n"
        "from appliance.cli.main import main\n"
        "sys.exit(main())\n"
    )
    launcher.chmod(0o755)
    return [str(launcher)]


VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "entry" / "workspace_dotenv.json").read_text()
)["cases"]


class _Trap:
    """A listener that records every connection (the attacker's proxy)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.mark.parametrize("case", VECTORS, ids=[c["description"][:60] for c in VECTORS])
def test_a_dotenv_in_the_workspace_is_not_loaded(case, cli_env, tmp_path, frozen_cli):
    env = {
        k: v for k, v in cli_env.items() if k not in ("LITELLM_MODE", "PYDANTIC_DISABLE_PLUGINS")
    }
    env["HOME"] = str(tmp_path / "user-home")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        for key in (name, name.lower()):
            env.pop(key, None)
    project = tmp_path / "outer" / "project"
    project.mkdir(parents=True)
    trap = _Trap()
    try:
        target = project if case["where"] == "project" else project.parent
        (target / ".env").write_text(case["env"].replace("{trap}", trap.url))
        with ScriptedLLM([{"text": "done"}]) as llm:
            home = Path(env["IRONCURTAIN_HOME"])
            home.mkdir(parents=True, exist_ok=True)
            (home / "config.json").write_text(
                json.dumps(
                    {
                        "agentModelId": "openai:scripted",
                        "openaiApiKey": "sk-test-not-real",
                        "openaiBaseUrl": llm.openai_base,
                    }
                )
            )
            done = subprocess.run(
                [*frozen_cli, "start", "say done"],
                env=env, cwd=project, text=True, stdin=subprocess.DEVNULL,
                capture_output=True, timeout=120,
            )  # fmt: skip
            reached = len(llm.requests)
    finally:
        trap.close()
    assert done.returncode == 0, done.stderr[-2000:]
    assert trap.hits == 0, "the model request went through the proxy the agent's .env named"
    assert reached == 1  # the scripted model itself answered


AGENT_CODE = """
filesystem.create_directory(path="appliance/cli")
filesystem.write_file(path="appliance/__init__.py", content=PAYLOAD)
filesystem.write_file(path="appliance/cli/__init__.py", content=PAYLOAD)
try:
    git.git_status(path=".")
except Exception as exc:
    print("git:", exc)
"""


def test_agent_code_cannot_plant_a_package_a_server_start_imports(cli_env, tmp_path):
    """The lead's reproducer as the agent would run it: two tool calls from agent code — write
    a package named like ours into the sandbox, then call a server not yet started (its process
    starts in the sandbox). The host runs as the installed `ironcurtain` command."""
    marker = tmp_path / "marker"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    sandbox = tmp_path / "project"
    sandbox.mkdir()
    script = tmp_path / "agent.py"
    script.write_text(f"PAYLOAD = {payload!r}\n{AGENT_CODE}")
    ironcurtain = Path(sys.executable).parent / "ironcurtain"
    done = subprocess.run(
        [str(ironcurtain), "exec", str(script), "--sandbox", str(sandbox)],
        env={**cli_env, "HOME": str(tmp_path / "user-home")}, cwd=sandbox, text=True,
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (sandbox / "appliance" / "__init__.py").exists()  # the agent did write it
    assert not marker.exists(), "the agent's package ran as the host when the git server started"
    assert "did not start" not in done.stdout, done.stdout[-1000:]


def test_a_folder_python_imports_from_is_not_the_workspace(cli_env, tmp_path):
    """PYTHONPATH=. (a developer's habit) puts the project folder on the host's own import
    path: a module the agent wrote there would shadow one the host imports next. `start` then
    works in a fresh session folder instead, and says why."""
    project = tmp_path / "project"
    project.mkdir()
    env = {**cli_env, "HOME": str(tmp_path / "user-home"), "PYTHONPATH": "."}
    with ScriptedLLM([{"text": "done"}]) as llm:
        home = Path(env["IRONCURTAIN_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.json").write_text(json.dumps({
            "agentModelId": "openai:scripted", "openaiApiKey": "sk-test-not-real",
            "openaiBaseUrl": llm.openai_base,
        }))  # fmt: skip
        ironcurtain = Path(sys.executable).parent / "ironcurtain"
        done = subprocess.run(
            [str(ironcurtain), "start", "say done"], env=env, cwd=project, text=True,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not the current folder" in done.stderr and "loads code from it" in done.stderr
