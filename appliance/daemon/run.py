"""Run the daemon: hold the listener lock, refresh the hub, serve the console until stopped.

The daemon takes the escalation listener's lock, so a session's file channel that saw it notices
when it dies (and denies, instead of waiting out the timeout), and a terminal listener cannot
answer the same files at the same time. Sessions need nothing from it: they keep writing request
files; with no daemon, ``escalation-listener`` and the session's own prompt answer them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.chokepoint.escalation.registry import ListenerLock
from appliance.config.paths import AppPaths
from appliance.daemon.console import Console
from appliance.daemon.hub import Hub
from appliance.daemon.scheduler import Scheduler
from appliance.daemon.signal import SignalBridge, SignalConfig
from appliance.host.atomic import write_text_atomic

__all__ = ["Daemon", "DaemonFiles", "check_host"]

REFRESH_S = 0.05
TICK_S = 1.0  # how often scheduled jobs are checked (cron's resolution is a minute)


@dataclass(frozen=True)
class DaemonFiles:
    directory: Path

    @property
    def token(self) -> Path:
        return self.directory / "console-token"

    @property
    def answers(self) -> Path:
        return self.directory / "answers.jsonl"

    @property
    def signal(self) -> Path:
        return self.directory / "signal.json"


def check_host(host: str) -> str:
    """Only loopback addresses: the console is plain HTTP and approves tool calls."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"--host {host!r}: give an IPv4 loopback address (127.x.x.x)") from None
    if not address.is_loopback:
        raise ValueError(f"--host {host!r} is not a loopback address; the console stays local")
    return host


class Daemon:
    """The hub, its refresh thread and the console; ``start`` then ``stop``."""

    def __init__(
        self,
        registry: Path,
        files: DaemonFiles,
        host: str,
        port: int,
        signal: SignalConfig | None = None,
        paths: AppPaths | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.files = files
        self._paths = paths
        self._signal_config = signal
        self.signal: SignalBridge | None = None
        self.hub = Hub(registry_dir=registry, audit_path=files.answers)
        self._lock = ListenerLock(registry)
        self._host, self._port = check_host(host), port
        self._stop = threading.Event()
        self.console: Console | None = None
        self._thread: threading.Thread | None = None
        self._wrote_token = False
        # Scheduled jobs (appliance/daemon/jobs.py): fired from the refresh loop, once a second.
        self.scheduler = scheduler
        self._next_tick = 0.0

    def start(self) -> str:
        """Start everything; return the console URL (with its fresh token)."""
        if not self._lock.acquire():
            raise RuntimeError("another escalation listener or daemon is already running")
        token = secrets.token_urlsafe(32)
        self.files.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(self.files.token, token + "\n", mode=0o600)
        self._wrote_token = True
        self.hub.refresh()
        self.console = Console(self.hub, token, self._host, self._port, self._paths)
        self.console.start()
        if self._signal_config is not None:
            tasks = None
            if self.scheduler is not None:
                scheduler = self.scheduler
                tasks = lambda name, task: scheduler.start_now(name, task, "signal")  # noqa: E731
            self.signal = SignalBridge(self.hub, self._signal_config, tasks)
        self._thread = threading.Thread(target=self._refresh, daemon=True)
        self._thread.start()
        return self.console.url()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self.hub.refresh()
            if self.scheduler is not None and time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + TICK_S
                self.scheduler.tick()
            if self.signal is not None:
                # signal-cli went away: the console and the listener still answer
                with contextlib.suppress(OSError, RuntimeError, TimeoutError):
                    self.signal.announce()
                    self.signal.watch_sessions(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.scheduler is not None:
            self.scheduler.stop()  # runs in progress end as terminated (resumable), recorded
        if self.signal is not None:
            self.signal.close()
        if self.console is not None:
            self.console.close()
        if self._wrote_token:  # never another daemon's token
            self.files.token.unlink(missing_ok=True)
        self._lock.release()

    def request_stop(self) -> None:
        """Safe from a signal handler: ``wait`` returns and the caller runs ``stop``."""
        self._stop.set()

    def wait(self) -> None:
        self._stop.wait()
