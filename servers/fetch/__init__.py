"""The fetch MCP server: ``http_fetch`` and ``web_search``, run as ``ironcurtain serve fetch``.

It lets the agent read the public web and nothing else: only http(s), every address checked
before connecting (private, loopback, link-local, CGNAT, multicast, reserved and cloud-metadata
ones refused) and the connection pinned to the address checked, every redirect re-checked,
bodies and time capped. It must never reach the machine's own network on the agent's behalf:
``--allow-private-addresses`` exists for tests on 127.0.0.1 only and says so on stderr.

Modules: ``addresses`` (URL and address checks), ``pinned`` (the only socket opener),
``client`` (redirects, headers, caps), ``convert`` (HTML to markdown/text), ``search``
(Brave/Tavily/SerpAPI), ``tools`` (schemas and handlers), ``settings``.

May import: ``servers.wire``, httpx and the standard library.
"""

from __future__ import annotations

import argparse
import sys
import threading

from servers.fetch.settings import FetchSettings, SearchConfig

__all__ = ["build_server", "main"]

VERSION = "0.1.0"
BASE_URL_WARNING = (
    "WARNING: IRONCURTAIN_WEB_SEARCH_BASE_URL is set: web_search sends its queries and API key "
    "to {} instead of the provider. This override is for tests only."
)
_WARM_UP_DELAY = 0.25  # seconds after start: the host's handshake is done by then
PRIVATE_WARNING = (
    "WARNING: --allow-private-addresses is set: http_fetch can reach loopback and private "
    "networks (cloud metadata addresses stay blocked). This flag is for tests only."
)


def build_server(settings: FetchSettings):  # -> StdioServer (imported here to keep start-up lean)
    from servers.fetch.tools import build_tools
    from servers.wire.server import StdioServer

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
    search = SearchConfig.from_env()
    if search.base_url:
        print(BASE_URL_WARNING.format(search.base_url), file=sys.stderr, flush=True)
    settings = FetchSettings(allow_private=args.allow_private_addresses, search=search)
    server = build_server(settings)
    # The client and converter cost ~0.6 s to import; load them just after the handshake so the
    # first call doesn't pay for it, and the 300 ms start-to-initialized budget isn't touched.
    warm = threading.Timer(_WARM_UP_DELAY, _warm_up)
    warm.daemon = True
    warm.start()
    server.run()
    return 0


def _warm_up() -> None:
    import bs4  # noqa: F401 - imported for its side effect: the module is loaded
    import markdownify  # noqa: F401 - same

    import servers.fetch.convert  # noqa: F401 - same
    from servers.fetch.pinned import tls_context

    tls_context()  # loading the CA bundle takes tens of milliseconds
