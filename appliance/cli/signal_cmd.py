"""``ironcurtain signal setup``: pair the daemon with one Signal recipient (see docs/daemon.md)."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="signal_command", metavar="SUBCOMMAND", required=True)
    setup = sub.add_parser("setup", help="link or use an account, trust the recipient's key")
    setup.add_argument("--account", required=True, help="the signal-cli account (+number)")
    setup.add_argument("--recipient", required=True, help="who approves (+number or UUID)")
    setup.add_argument("--host", default="127.0.0.1", help="signal-cli daemon --tcp host")
    setup.add_argument("--port", type=int, default=7583, help="signal-cli daemon --tcp port")
    setup.add_argument("--link", metavar="DEVICE_NAME", help="link signal-cli as a new device")


def run(args: argparse.Namespace) -> int:
    from appliance.config.paths import app_paths
    from appliance.daemon.run import DaemonFiles
    from appliance.daemon.signal_setup import SetupError, setup_signal

    target = DaemonFiles(app_paths().home / "daemon").signal
    try:
        setup_signal(
            target,
            host=args.host,
            port=args.port,
            account=args.account,
            recipient=args.recipient,
            link_name=args.link,
            ask=input,
            say=print,
        )
    except (SetupError, RuntimeError, ConnectionError, TimeoutError) as exc:
        print(f"ironcurtain signal setup: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target}; `ironcurtain daemon` now uses Signal")
    return 0
