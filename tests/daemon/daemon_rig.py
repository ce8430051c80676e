"""A registry with two live sessions and their real file channels, plus a hub over them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from appliance.chokepoint.escalation import (
    EscalationRequest,
    FileChannel,
    call_digest,
    register_session,
)
from appliance.daemon.hub import Hub


class Rig:
    """Two registered sessions (this process's pid) with real file channels, and a hub."""

    def __init__(self, root: Path, timeout_s: float = 10.0) -> None:
        self.registry = root / "running"
        self.hub = Hub(registry_dir=self.registry, audit_path=root / "daemon" / "answers.jsonl")
        self.channels: dict[str, FileChannel] = {}
        self.registrations = []
        for name in ("sess-a", "sess-b"):
            folder = root / "sessions" / name / "escalations"
            self.registrations.append(register_session(self.registry, name, os.getpid(), folder))
            self.channels[name] = FileChannel(folder, timeout_s, registry_dir=self.registry)


def trequest(
    request_id: str, session_id: str, path: str = "/home/u/notes.txt"
) -> EscalationRequest:
    arguments: dict[str, Any] = {"path": path, "content": "hi"}
    return EscalationRequest(
        id=request_id,
        session_id=session_id,
        server="filesystem",
        tool="write_file",
        arguments=arguments,
        reason="writes outside the sandbox need approval",
        rule="escalate-write-home",
        call_digest=call_digest("filesystem", "write_file", arguments, "p" * 64),
        policy_digest="p" * 64,
        targets={"write-path": [path]},
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


async def until(predicate: Callable[[], object], timeout_s: float = 5) -> None:
    """Wait for ``predicate()`` to hold (checked every 20 ms); fail after ``timeout_s``."""
    with anyio.fail_after(timeout_s):
        while not predicate():
            await anyio.sleep(0.02)


def fill(text: str, values: dict[str, str]) -> str:
    """A vector's text with each ``{key}`` replaced by its value (the console's origin, path,
    token...)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
