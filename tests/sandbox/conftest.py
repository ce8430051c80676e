"""Sandbox fixtures: the real guest (built once if missing or stale) in the real wasmtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sandbox import Limits, Sandbox
from wasm_guest.build import DEFAULT_OUT, ensure_built

# Compiled guests are keyed by wasmtime version, engine settings and the guest's hash, so one
# cache shared by test sessions is safe and saves a ~10 s compile per session.
TEST_CACHE = DEFAULT_OUT / "test-cache"

CATALOG = [
    {
        "server": "filesystem",
        "name": "read_text_file",
        "description": "Read a text file.\nSecond line of detail.",
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "description": "file to read"},
            "head": {"type": "integer"},
        },
    },
    {
        "server": "git",
        "name": "git_status",
        "description": "Show the working tree status.",
        "required": [],
        "properties": {},
    },
    {
        "server": "fetch",
        "name": "http_fetch",
        "description": "Fetch a URL as markdown.",
        "required": ["url"],
        "properties": {"url": {"type": "string"}},
    },
]


class RecordingTools:
    """A ``call_tool`` that records calls and answers from a small script of rules."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, name: str, args_json: str) -> tuple[bool, str]:
        args = json.loads(args_json)
        self.calls.append((name, args))
        if name == "git.git_status":
            return False, "DENIED: git is not allowed in this test"
        if name == "fetch.http_fetch":
            return True, "# plain markdown, not JSON"
        return True, json.dumps({"path": args.get("path"), "text": "hello"})


@pytest.fixture(scope="session")
def guest_wasm(pytestconfig: pytest.Config) -> Path:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # the build's progress line reaches the terminal
        return ensure_built()


@pytest.fixture(scope="session")
def sandbox(guest_wasm: Path) -> Sandbox:
    return Sandbox(guest_wasm, cache_dir=TEST_CACHE)


@pytest.fixture
def tools() -> Iterator[RecordingTools]:
    yield RecordingTools()


@pytest.fixture
def small_limits() -> Limits:
    """Small enough that runaway code stops within a second."""
    return Limits(fuel=2_000_000_000, wall_seconds=2.0, memory_bytes=96 * 1024 * 1024)


@pytest.fixture
def catalog() -> list[dict]:
    return [dict(entry) for entry in CATALOG]
