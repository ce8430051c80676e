"""The fetch MCP server: ``http_fetch`` and ``web_search``, run as ``ironcurtain serve fetch``.

It lets the agent read the public web and nothing else: only http(s), every address checked
before connecting (private, loopback, link-local, CGNAT, multicast, reserved and cloud-metadata
ones refused) and the connection pinned to the address checked, every redirect re-checked,
bodies and time capped. It must never reach the machine's own network on the agent's behalf:
``--allow-private-addresses`` exists for tests on 127.0.0.1 only and says so on stderr.

Modules: ``addresses`` (URL and address checks), ``pinned`` (the only socket opener),
``client`` (redirects, headers, caps), ``convert`` (HTML to markdown/text), ``search``
(Brave/Tavily/SerpAPI), ``tools`` (schemas and handlers), ``settings``.
"""

from __future__ import annotations

import argparse
import sys

from servers.fetch.settings import FetchSettings, SearchConfig

__all__ = ["build_server", "main"]

VERSION = "0.1.0"
PRIVATE_WARNING = (
    "WARNING: --allow-private-addresses is set: http_fetch can reach loopback and private "
    "networks (cloud metadata addresses stay blocked). This flag is for tests only."
)


def build_server(settings: FetchSettings):  # -> StdioServer (imported here to keep start-up lean)
    from servers.fetch.tools import build_tools
    from servers.mcpio import StdioServer

    return StdioServer(
        "ironcurtain-fetch",
        VERSION,
        build_tools(settings),
        instructions="Fetch public web pages (http_fetch) and search the web (web_search).",
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ironcurtain serve fetch",
        description="MCP server over stdio: http_fetch and web_search.",
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="tests only: let http_fetch reach loopback and private networks",
    )
    args = parser.parse_args(argv)
    if args.allow_private_addresses:
        print(PRIVATE_WARNING, file=sys.stderr, flush=True)
    settings = FetchSettings(
        allow_private=args.allow_private_addresses, search=SearchConfig.from_env()
    )
    build_server(settings).run()
    return 0
