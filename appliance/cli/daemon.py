"""``ironcurtain daemon``: answer escalations of every running session from the web console,
and run scheduled jobs (``ironcurtain job``) on their schedules.

Foreground; Ctrl-C or SIGTERM stops it. ``--install-service`` writes a systemd user unit instead
of running (enable it with ``systemctl --user enable --now ironcurtain-daemon``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765, help="console port (default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--registry", type=Path, help="running-sessions folder (default: home's)")
    parser.add_argument(
        "--install-service", action="store_true", help="write a systemd user unit and exit"
    )


def run(args: argparse.Namespace) -> int:
    from appliance.config.paths import app_paths
    from appliance.daemon.run import Daemon, DaemonFiles, check_host

    paths = app_paths()
    try:
        host = check_host(args.host)
    except ValueError as exc:
        print(f"ironcurtain daemon: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"ironcurtain daemon: --port {args.port} is not a port number", file=sys.stderr)
        return 2
    if args.install_service:
        from appliance.daemon.service import UNIT_NAME, install_unit

        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        path = install_unit(args.port, host, paths.home, config_home)
        print(f"wrote {path}\nenable it: systemctl --user enable --now {UNIT_NAME}")
        return 0
    registry = args.registry or paths.registry
    files = DaemonFiles(paths.home / "daemon")
    signal_config = None
    if files.signal.exists():
        from pydantic import ValidationError

        from appliance.daemon.signal import SignalConfig

        try:
            signal_config = SignalConfig.model_validate_json(files.signal.read_bytes())
        except (OSError, ValidationError) as exc:
            print(f"ironcurtain daemon: {files.signal}: {exc}", file=sys.stderr)
            return 2
    from appliance.daemon.jobs import JobStore
    from appliance.daemon.scheduler import Scheduler

    say = lambda line: print(line, flush=True)  # noqa: E731 - the daemon's own output
    scheduler = Scheduler(JobStore(paths), say=say)
    daemon = Daemon(registry, files, host, args.port, signal_config, paths, scheduler)
    try:
        url = daemon.start()
    except (RuntimeError, OSError) as exc:
        daemon.stop()
        print(f"ironcurtain daemon: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    _print_url(url, files.token)
    try:
        daemon.wait()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()
    print("ironcurtain daemon: stopped", flush=True)
    return 0


def _print_url(url: str, token_file: Path) -> None:
    """The console's URL with its token, on a terminal only. Anywhere else (a pipe, a file,
    systemd's journal, which keeps it on disk for the adm and systemd-journal groups to read)
    the token would outlive the screen: the line names the token's file instead."""
    if sys.stdout.isatty():
        print(f"ironcurtain daemon: console at {url}", flush=True)
        print("(the token is shown once; it is also in the daemon folder, mode 0600)", flush=True)
        return
    address = url.split("?token=", 1)[0]
    print(
        f"ironcurtain daemon: console at {address}?token=TOKEN, TOKEN being the contents of "
        f"{token_file} (mode 0600; not printed here: this output is not a terminal)",
        flush=True,
    )
