"""``ironcurtain escalation-listener``: answer the escalations of every running session.

Plain terminal: pending escalations are printed as they appear (numbered), commands are read
from stdin one per line, the registry is re-read about every half second. Only one listener
runs at a time (``flock`` on ``<registry>/listener.lock``).
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from pathlib import Path

REFRESH_S = 0.5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        type=Path,
        help="the running-sessions folder (default: the 'running' folder of the IronCurtain home)",
    )


def _read_lines(lines: queue.Queue[str | None]) -> None:
    for line in sys.stdin:
        lines.put(line)
    lines.put(None)  # end of input: quit


def _say(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from appliance.chokepoint.escalation.listener import HELP, Listener
    from appliance.chokepoint.escalation.registry import ListenerLock, listener_pid

    if args.registry is not None:
        registry = args.registry
    else:
        from appliance.config.paths import app_paths

        registry = app_paths().registry
    lock = ListenerLock(registry)
    if not lock.acquire():
        other = listener_pid(registry)
        who = f" (pid {other})" if other else ""
        print(f"another escalation listener is already running{who}", file=sys.stderr)
        return 1
    with lock:
        listener = Listener(registry, _say)
        listener.refresh()
        _say(f"escalation listener ready: {len(listener.sessions)} running session(s)\n{HELP}\n")
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_read_lines, args=(lines,), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=REFRESH_S)
            except queue.Empty:
                listener.refresh()
                continue
            listener.refresh()  # answer against what is on disk now
            if line is None or not listener.handle(line):
                _say("listener stopped\n")
                return 0
