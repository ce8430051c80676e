"""A server that dies or hangs mid-call: the agent gets a short error, the call is audited, and
the next call gets a fresh server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from appliance.chokepoint.server_pool import ServerSpec
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session

pytestmark = pytest.mark.anyio
SCRIPT = Path(__file__).with_name("crashy_server.py")


def _policy(folder: Path) -> Path:
    folder.mkdir()
    tools = [
        {"toolName": name, "serverName": "crashy", "args": args}
        for name, args in (("echo", {"text": ["none"]}), ("crash", {}), ("hang", {}))
    ]
    files = {
        "compiled-policy.json": {
            "rules": [
                {
                    "name": "allow-crashy",
                    "if": {"server": ["crashy"]},
                    "then": "allow",
                    "reason": "test server",
                }
            ]
        },
        "tool-annotations.json": {"servers": {"crashy": {"tools": tools}}},
        "dynamic-lists.json": {"lists": {}},
    }
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data))
    return folder


async def test_a_server_dying_mid_call_is_an_error_and_the_next_call_restarts_it(home, tmp_path):
    spec = ServerSpec("crashy", argv=(sys.executable, str(SCRIPT)), call_timeout_s=3.0)
    options = SessionOptions(
        task="t", sandbox=tmp_path / "sb", policy_dir=_policy(tmp_path / "policy")
    )
    async with open_session(Config(), home, options, specs=[spec]) as session:
        first = await session.chokepoint.call("crashy", "echo", {"text": "a"})
        crashed = await session.chokepoint.call("crashy", "crash", {})
        after = await session.chokepoint.call("crashy", "echo", {"text": "b"})
        hung = await session.chokepoint.call("crashy", "hang", {})
    assert first.ok and after.ok
    assert crashed.text == "ERROR: the crashy server failed during crash"
    assert "Traceback" not in crashed.text
    assert first.text.split("pid ")[1] != after.text.split("pid ")[1]  # a new process
    assert hung.text == "ERROR: crashy.hang timed out after 3 s"
    records = [json.loads(line) for line in session.audit_path.read_text().splitlines()]
    statuses = [r["status"] for r in records if r.get("server") == "crashy" and r["type"] == "call"]
    assert statuses == ["ok", "server-error", "ok", "server-error"]
