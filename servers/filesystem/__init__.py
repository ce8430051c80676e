"""The hardened filesystem MCP server: the reference server's 14 tools, safe on their own.

Started as ``ironcurtain serve filesystem ROOT [ROOT...] [--max-read-bytes N] [--allow-hardlinks]``.
It may touch only the ROOT directories given on the command line, resolved race-free from fds
opened at start (``resolve``); it never asks the client for roots and ignores any the client
offers, so nothing at run time widens them. It must never read or change anything outside the
roots, never open a FIFO, socket or device, never follow a hard link out unless told to, and
never answer with a traceback. It imports only the standard library and ``servers.wire.server``
so it starts fast.

May import: ``servers.wire`` and the standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["DEFAULT_MAX_READ_BYTES", "main"]

DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironcurtain serve filesystem",
        description="MCP filesystem server over stdio, confined to the ROOT directories.",
    )
    parser.add_argument("roots", nargs="+", metavar="ROOT", help="an allowed directory")
    parser.add_argument(
        "--max-read-bytes",
        type=int,
        default=DEFAULT_MAX_READ_BYTES,
        metavar="N",
        help=f"largest read or write in bytes (default {DEFAULT_MAX_READ_BYTES})",
    )
    parser.add_argument(
        "--allow-hardlinks",
        action="store_true",
        help="read and write files with more than one hard link (weakens containment)",
    )
    return parser


def main(argv: list[str]) -> int:
    from servers.filesystem.fileio import Limits
    from servers.filesystem.reading import Context
    from servers.filesystem.resolve import Roots
    from servers.filesystem.server import build_server

    args = _parser().parse_args(argv)
    if args.max_read_bytes < 1:
        print(f"--max-read-bytes must be at least 1, got {args.max_read_bytes}", file=sys.stderr)
        return 2
    try:
        roots = Roots(args.roots)
    except OSError as exc:
        print(
            f"filesystem server: cannot open root {exc.filename!r}: {exc.strerror}", file=sys.stderr
        )
        return 2
    if args.allow_hardlinks:
        print(
            "filesystem server: WARNING --allow-hardlinks: files with several hard links are "
            "read and replaced; a link may lead to content outside the allowed directories",
            file=sys.stderr,
        )
    umask = os.umask(0o022)
    os.umask(umask)
    context = Context(roots, Limits(args.max_read_bytes, args.allow_hardlinks, umask))
    build_server(context).run()
    return 0
