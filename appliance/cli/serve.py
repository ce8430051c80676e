"""``ironcurtain serve NAME ...``: run one of the shipped MCP servers over stdio, confined.

The server's confinement profile (``servers/NAME/confinement.json``) is applied to this process
before the server's module is even imported (``appliance.confinement``), so whoever starts it —
the appliance's server pool or another MCP client — gets the same kernel confinement.
``--confinement best-effort`` (or ``IRONCURTAIN_CONFINEMENT=best-effort``, which the appliance
sets from config) runs with what the kernel has; ``--no-confine`` is for debugging only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

SERVERS = {
    "filesystem": "servers.filesystem",
    "git": "servers.git",
    "fetch": "servers.fetch",
    "github": "servers.github",
}
MODE_VARIABLE = "IRONCURTAIN_CONFINEMENT"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--confinement",
        choices=("enforce", "best-effort"),
        default=None,
        help="enforce (default): refuse to start if the kernel cannot confine the server; "
        "best-effort: confine with what the kernel has (weaker, says what is missing)",
    )
    parser.add_argument(
        "--no-confine",
        action="store_true",
        help="debugging only: run the server with no kernel confinement (prints a warning)",
    )
    parser.add_argument("server", choices=sorted(SERVERS), help="which server to run")
    parser.add_argument(
        "server_args",
        nargs=argparse.REMAINDER,
        help="the server's own arguments (see `ironcurtain serve NAME --help`)",
    )


def confinement_mode(option: str | None) -> str | None:
    """The mode from ``--confinement`` or ``IRONCURTAIN_CONFINEMENT`` (default enforce); None
    when the variable holds something else. Shared with ``ironcurtain confine``."""
    mode = option or os.environ.get(MODE_VARIABLE) or "enforce"
    return mode if mode in ("enforce", "best-effort") else None


def _mode(args: argparse.Namespace) -> str:
    if args.no_confine:
        return "off"
    mode = confinement_mode(args.confinement)
    if mode is None:
        value = os.environ.get(MODE_VARIABLE)
        raise SystemExit(
            f"ironcurtain serve: {MODE_VARIABLE}={value!r}: use enforce or best-effort"
        )
    return mode


def _confine(server: str, server_args: list[str], mode: str) -> int | None:
    if mode == "off":
        print(
            f"ironcurtain serve {server}: WARNING --no-confine: the server runs with all of your "
            "rights (no Landlock, seccomp, namespaces or limits). For debugging only.",
            file=sys.stderr,
            flush=True,
        )
        return None
    return apply_confinement(f"serve {server}", server, server_args, mode)


def apply_confinement(
    label: str, server: str, server_args: list[str], mode: str, profile: Any = None
) -> int | None:
    """Confine this process (``server``'s shipped profile, or ``profile``); None when done,
    else the exit status after saying why on stderr. Warnings are printed as ``label``'s."""
    from appliance.confinement import (
        ConfinementRefused,
        ConfinementUnavailable,
        ProfileError,
        confine,
    )

    try:
        report = confine(server, server_args, mode, profile=profile)
    except (ConfinementRefused, ConfinementUnavailable, ProfileError, OSError) as exc:
        print(f"ironcurtain {label}: not started: {exc}", file=sys.stderr, flush=True)
        return 3
    for sentence in report.missing:
        _warn(label, f"confinement is best-effort: {sentence}")
    for sentence in report.warnings:
        _warn(label, sentence)
    return None


def _warn(label: str, sentence: str) -> None:
    print(f"ironcurtain {label}: WARNING {sentence}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    # Printing the server's usage runs no server code and must not need (or warn about) a kernel.
    if not {"-h", "--help"} & set(args.server_args):
        failed = _confine(args.server, list(args.server_args), _mode(args))
        if failed is not None:
            return failed
    module = importlib.import_module(SERVERS[args.server])
    return int(module.main(list(args.server_args)) or 0)
