"""A probe for tools from Code Mode leaves a trace in the audit log, as it does through the
Docker gate socket: the sandbox's bridge still refuses a name outside the run's catalogue, and
the chokepoint records the refusal (rule ``sandbox-unknown-tool``), never running the call.

Found by a red team: the sandbox's bridge refused a name outside the catalogue (``shell.exec``
through the guest's raw import, ``git.git_push`` from a session without git, a name with no
dot) before the chokepoint was asked, so nothing was audited.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "appliance.cli"]

PROBE = (
    "import sys\n"
    "raw = sys.modules['wit_world.imports.tools']\n"
    "seen = []\n"
    "for name in ['shell.exec', 'filesystem.delete_everything', 'nodot', 'a.b.c']:\n"
    "    try:\n"
    '        raw.call(name, \'{"command": "id"}\')\n'
    "    except Exception as exc:\n"
    "        seen.append(str(exc.value))\n"
    "try:\n"
    "    raw.call('x' * 5000, '{}')\n"
    "except Exception as exc:\n"
    "    seen.append(str(exc.value))\n"
    "seen\n"
)


def _audit(home: Path) -> list[dict]:
    (session,) = (home / "sessions").iterdir()
    lines = (session / "audit.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry.get("type") == "call"]


def test_calls_to_unknown_tools_are_denied_and_audited(cli_env, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [*CLI, "exec", "-", "--sandbox", str(work)], env=cli_env, input=PROBE,
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = json.loads(json.loads(done.stdout)["result"])
    assert all(a.startswith("ERROR: unknown tool") for a in answers[:4]), answers
    assert "too long" in answers[-1]
    entries = _audit(Path(cli_env["IRONCURTAIN_HOME"]))
    recorded = [(e["server"], e["tool"], e["decision"], e["rule"]) for e in entries]
    assert recorded == [
        ("shell", "exec", "deny", "sandbox-unknown-tool"),
        ("filesystem", "delete_everything", "deny", "sandbox-unknown-tool"),
        ("nodot", "", "deny", "sandbox-unknown-tool"),
        ("a", "b.c", "deny", "sandbox-unknown-tool"),
    ]
    assert entries[0]["arguments"] == {"command": "id"}
    assert "shell.exec" in entries[0]["reason"]
