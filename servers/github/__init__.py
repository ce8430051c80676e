"""The GitHub MCP server, run as ``ironcurtain serve github``.

It offers GitHub's official MCP server's tools (names and input schemas from ``tools.json``,
taken from github/github-mcp-server's tool snapshots, trimmed to the arguments IronCurtain
annotates) over the project's light MCP core. The token comes only from this process's
environment (``GITHUB_PERSONAL_ACCESS_TOKEN``, which the host sets from ``githubToken``), is
sent only to the configured API host and is scrubbed from every result and error.

``GITHUB_HOST`` selects GitHub Enterprise the way the official server reads it;
``IRONCURTAIN_GITHUB_API_URL`` sets the API base URL directly (a scripted API in tests, with
``--allow-private-addresses``, which says so on stderr).

Modules: ``api`` (the client: origin pinning, pagination, rate limits, errors), ``reads`` and
``writes`` (the handlers), ``tools.json`` (the schemas).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["build_server", "build_tools", "main"]

VERSION = "0.1.0"
ENV_TOKEN = "GITHUB_PERSONAL_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_HOST = "GITHUB_HOST"
ENV_API_URL = "IRONCURTAIN_GITHUB_API_URL"
PRIVATE_WARNING = (
    "WARNING: --allow-private-addresses is set: the GitHub API URL may be a loopback or private "
    "address. This flag is for tests only."
)
_WARM_UP_DELAY = 0.25


def load_catalog() -> list[dict[str, Any]]:
    return json.loads((Path(__file__).with_name("tools.json")).read_text(encoding="utf-8"))["tools"]


def build_tools(api: Any) -> list[Any]:
    from servers.github.reads import READS
    from servers.github.writes import WRITES
    from servers.wire.server import Tool

    handlers = {**READS, **WRITES}
    tools = []
    for entry in load_catalog():
        name = entry["name"]
        hints = {"readOnlyHint": bool(entry["readOnly"]), "openWorldHint": True}
        if entry.get("title"):
            hints["title"] = entry["title"]
        tools.append(
            Tool(
                name,
                entry["description"],
                entry["inputSchema"],
                _bind(api, name, handlers[name]),
                annotations=hints,
            )
        )
    return tools


def _bind(api: Any, name: str, handler: Any) -> Any:
    from servers.wire.server import ToolError, ToolResult

    def call(args: dict[str, Any]) -> ToolResult:
        try:
            data = handler(api, args)
        except ToolError as exc:
            raise ToolError(api.scrub(f"{name}: {exc}")) from None
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        text = api.scrub(text)
        structured = None
        if not isinstance(data, str):
            structured = json.loads(text) if isinstance(data, dict) else {"items": json.loads(text)}
        return ToolResult(text, structured)

    return call


def build_server(api: Any) -> Any:
    from servers.wire.server import StdioServer

    return StdioServer(
        "ironcurtain-github",
        VERSION,
        build_tools(api),
        instructions="GitHub repositories, files, branches, issues, pull requests and search.",
    )


def api_from_env(allow_private: bool) -> Any:
    from servers.github.api import GitHubApi, api_url_for_host

    base = os.environ.get(ENV_API_URL) or api_url_for_host(os.environ.get(ENV_HOST))
    token = (os.environ.get(ENV_TOKEN) or "").strip() or None
    return GitHubApi(base, token, allow_private=allow_private)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ironcurtain serve github",
        description="MCP server over stdio: GitHub's official tools over GitHub's REST API.",
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="tests only: let the API URL be a loopback or private address",
    )
    args = parser.parse_args(argv)
    if args.allow_private_addresses:
        print(PRIVATE_WARNING, file=sys.stderr, flush=True)
    try:
        api = api_from_env(args.allow_private_addresses)
    except ValueError as exc:
        print(f"ironcurtain serve github: not started: {exc}", file=sys.stderr, flush=True)
        return 2
    if api.token is None:
        print(
            f"ironcurtain serve github: WARNING no token ({ENV_TOKEN} / githubToken): only "
            "public data can be read",
            file=sys.stderr,
            flush=True,
        )
    server = build_server(api)
    warm = threading.Timer(_WARM_UP_DELAY, _warm_up)
    warm.daemon = True
    warm.start()
    server.run()
    return 0


def _warm_up() -> None:
    import httpx  # noqa: F401 - imported for its side effect: the module is loaded
