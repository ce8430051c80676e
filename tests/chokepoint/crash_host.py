"""A host process for the crash test: opens a real session (the shipped servers over stdio, the
shipped policy, the installation under IRONCURTAIN_HOME), approves whatever is asked, and makes
one ``http_fetch`` of the URL given, printing ``calling`` first. The test kills it (SIGKILL)
while the fetch server waits on a loopback server that never answers.

    python crash_host.py SESSION_ID SANDBOX URL
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import anyio

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict
from appliance.config.paths import app_paths
from appliance.config.settings import Config
from appliance.session import core


class Approves:
    async def ask(self, request: EscalationRequest) -> Verdict:
        return Verdict(approved=True, by="user")


async def main(session_id: str, sandbox: Path, url: str) -> None:
    config = Config()
    specs = [
        dataclasses.replace(s, args=(*s.args, "--allow-private-addresses"))
        if s.name == "fetch"
        else s
        for s in core.server_specs(config, sandbox)
    ]
    options = core.SessionOptions(
        task="crash", sandbox=sandbox, session_id=session_id, interactive_channel=Approves()
    )
    async with core.open_session(config, app_paths(), options, specs) as session:
        print("calling", flush=True)
        outcome = await session.chokepoint.call("fetch", "http_fetch", {"url": url})
        print("answered", outcome.text[:80], flush=True)  # never, when the test kills us


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), sys.argv[3])
