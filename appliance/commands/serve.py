"""``ironcurtain serve NAME ...``: run one of the shipped MCP servers over stdio."""

from __future__ import annotations

import argparse
import importlib

SERVERS = {
    "filesystem": "servers.filesystem",
    "git": "servers.git",
    "fetch": "servers.fetch",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("server", choices=sorted(SERVERS), help="which server to run")
    parser.add_argument(
        "server_args",
        nargs=argparse.REMAINDER,
        help="the server's own arguments (see `ironcurtain serve NAME --help`)",
    )


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(SERVERS[args.server])
    return int(module.main(list(args.server_args)) or 0)
