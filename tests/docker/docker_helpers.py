"""Shared helpers for the Docker-mode tests: the real key, a scripted agent, one whole session.

The scripted agent is an `AgentAdapter` whose "agent" is a shell script run in the TEST image
(busybox + socat), so tests drive the real container, sockets, proxy and chokepoint with any
behaviour, hostile included, in seconds.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config.paths import app_paths
from appliance.config.settings import Config
from appliance.docker.adapters import AgentLaunch, base_env, entry_command

# Recognisable and long, so a leak of any part of it would be found by a search.
REAL_KEY = "sk-ant-api03-REALKEY" + secrets.token_hex(36) + "AA"


@dataclass
class ScriptAgent:
    """An agent that runs `script` with /bin/sh in the TEST image."""

    image_tag: str
    script: str
    name: str = "script"
    provider: str = "anthropic"
    home_files: dict[str, str] = field(default_factory=lambda: {"seeded.txt": "from the host"})

    def image(self, client: Any, paths: Any, progress: Any) -> str:
        return self.image_tag

    def launch(
        self,
        *,
        task: str | None,
        interactive: bool,
        fake_key: str,
        auth: str = "apikey",
        conversation: str | None = None,
        resume: bool = False,
    ) -> AgentLaunch:
        env = base_env() | {"ANTHROPIC_API_KEY": fake_key}
        command = entry_command(["/bin/sh", "-c", self.script])
        return AgentLaunch(command, env, dict(self.home_files))


def session_config(**fields: Any) -> Config:
    return Config(**{"anthropic_api_key": REAL_KEY, "escalation_timeout_seconds": 5, **fields})


async def run_script(
    image: str,
    script: str,
    sandbox: Path,
    session_id: str,
    *,
    pty: bool = False,
    proxy_settings: dict[str, Any] | None = None,
    task: str | None = None,
    **config: Any,
) -> tuple[int, str]:
    """One whole Docker-mode session with a scripted agent; returns (exit code, its output)."""
    from appliance.docker.run import run_agent
    from appliance.session.core import SessionOptions

    out = io.StringIO()
    options = SessionOptions(session_id=session_id, sandbox=sandbox)
    code = await run_agent(
        session_config(**config), app_paths(), options, ScriptAgent(image, script),
        task=task, pty=pty, proxy_settings=proxy_settings, out=out,
    )  # fmt: skip
    return code, out.getvalue()


def real_key_env() -> dict[str, str]:
    return {**os.environ, "ANTHROPIC_API_KEY": REAL_KEY}
