"""``ironcurtain mcp-proxy``: every shipped tool, over stdio, behind the policy.

Any MCP client (Claude Desktop, Cursor, an agent framework) can point at this command and get the
same policy, escalation and audit as Code Mode. Tools are exposed as ``SERVER__TOOL``. Standard
output is the protocol channel, so escalations are answered from another terminal with
``ironcurtain escalation-listener`` or, when the client supports MCP elicitation, in the client
itself (:mod:`appliance.chokepoint.escalation.client`: first answer wins); while one waits
the client gets a warning and, if it sent a progress token, progress every 5 s. A client's
``notifications/cancelled`` cuts the call's trip off (``appliance.chokepoint.gate``): audited as
cut off, its question withdrawn, its server told. Everything the operator should read goes to
stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy-dir", type=Path, help="compiled policy folder (default: active)")
    parser.add_argument(
        "--sandbox",
        type=Path,
        help="the folder the agent may work in freely (default: a new session's sandbox)",
    )


def run(args: argparse.Namespace) -> int:
    import anyio

    from appliance.config.paths import app_paths
    from appliance.config.settings import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return 2
    anyio.run(_serve, args, config, app_paths())
    return 0


async def _serve(args: argparse.Namespace, config, paths) -> None:
    import anyio
    from anyio.from_thread import BlockingPortal

    from appliance import __version__
    from appliance.chokepoint.escalation.client import ClientChannel
    from appliance.chokepoint.gate import ChokepointCalls
    from appliance.host.workspace import require_workspace
    from appliance.session.core import SessionOptions, open_session
    from servers.wire.server import StdioServer

    args.sandbox = require_workspace(args.sandbox, paths)  # issue 15: the one workspace check
    client = ClientChannel(config.escalation_timeout_seconds)
    options = SessionOptions(
        task="mcp-proxy",
        policy_dir=args.policy_dir,
        sandbox=args.sandbox,
        mode="mcp-proxy",
        interactive_channel=client,  # asked beside the listener's files: first answer wins
    )
    async with open_session(config, paths, options) as session, BlockingPortal() as portal:
        print(
            f"ironcurtain mcp-proxy: session {session.id}, sandbox {session.sandbox}",
            file=sys.stderr,
        )

        def stop(_reason: str) -> None:
            os._exit(3)  # no effect may go unaudited: stop at once; children see EOF and exit

        calls = ChokepointCalls(session.chokepoint, portal, stop)
        tools = calls.tools(await session.servers.all_tools())
        # Names no server offers still go to the chokepoint: denied there, and audited.
        gate = StdioServer(
            "ironcurtain",
            __version__,
            tools,
            validate=False,
            max_workers=8,
            unknown=calls.unknown,
            logging=True,
        )
        client.attach(gate, session.id)
        await anyio.to_thread.run_sync(gate.run)
