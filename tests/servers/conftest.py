"""Shared helpers for the shipped servers' tests: start one over stdio with the real SDK client.

``stdio_session(argv)`` spawns ``python -m appliance.cli serve *argv`` exactly as the host does
and yields an initialized ``mcp.client.session.ClientSession``; the servers use our own light
stdio core, so this is what proves their wire format against the SDK.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def stdio_session(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    prefix: Sequence[str] = (),
    **session_kwargs: Any,
) -> AsyncIterator[Any]:
    """Run ``ironcurtain serve *argv`` over stdio and yield an initialized ClientSession.

    ``env`` is added to the current environment (the SDK would otherwise pass only a minimal
    one, dropping the test's ``IRONCURTAIN_HOME``); ``prefix`` is a command the server is run
    under (e.g. ``setpriv ...``); extra keyword arguments go to ClientSession.
    """
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    full_env.update(env or {})
    command = [*prefix, sys.executable, "-m", "appliance.cli", "serve", *argv]
    params = StdioServerParameters(
        command=command[0],
        args=command[1:],
        env=full_env,
        cwd=str(cwd or REPO_ROOT),
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, **session_kwargs) as session,
    ):
        await session.initialize()
        yield session


def result_text(result: Any) -> str:
    """The concatenated text blocks of a CallToolResult."""
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def filesystem_server(*roots: str | os.PathLike[str], **options: Any) -> Any:
    """The filesystem server built in memory (``StdioServer.invoke`` runs a call without a pipe).

    ``options``: ``max_read_bytes`` and ``allow_hardlinks``, as on the command line.
    """
    from servers.filesystem import DEFAULT_MAX_READ_BYTES
    from servers.filesystem.fileio import Limits
    from servers.filesystem.reading import Context
    from servers.filesystem.resolve import Roots
    from servers.filesystem.server import build_server

    limits = Limits(
        options.get("max_read_bytes", DEFAULT_MAX_READ_BYTES),
        options.get("allow_hardlinks", False),
        0o022,
    )
    return build_server(Context(Roots([str(r) for r in roots]), limits))


def invoke(server: Any, tool: str, **arguments: Any) -> Any:
    """Run one tool call in memory; returns the ToolResult."""
    return server.invoke({"name": tool, "arguments": arguments})
