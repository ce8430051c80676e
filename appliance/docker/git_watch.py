"""The workspace watched while the agent runs: new git metadata quarantined as it appears.

`GitWatch` runs the two halves of `git_guard`'s watch during a session: `GitEvents`
(`git_events.py`: every folder watched with inotify, what could be git metadata renamed the
moment it appears) and a sweep in a thread (`Baseline.sweep`: a walk of the whole workspace),
the backstop. Both rename under one lock and report through `git_guard.report`. When the watch
is degraded (it says why: inotify refused, watches used up, the watcher failed), the terminal
and the audit log are told (`git-watch` record) and the sweep runs back to back instead of
every `interval` seconds. The last sweep, after the container is gone, is the caller's.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from appliance.docker.git_events import GitEvents
from appliance.docker.git_guard import Baseline, Sweep, report
from appliance.docker.git_metadata import Found

__all__ = ["FAST_INTERVAL", "GitWatch"]

FAST_INTERVAL = 0.5  # seconds between sweeps at the least, while the watch is degraded


class GitWatch:
    """Quarantines the git metadata the agent makes while it runs: the moment it appears
    (`GitEvents`: every folder of the workspace watched), and by a sweep in a thread, the
    backstop, at most every `interval` seconds and never more than a tenth of the time (a large
    workspace is swept less often). While the watch is degraded (said on the terminal and in the
    audit log), the sweep runs as often as half of one core allows. `events=False`: sweeps only
    (what the guard did before it watched; tests compare the two)."""

    def __init__(self, baseline: Baseline, suffix: str, audit: Callable[[dict], object],
                 interval: float = 2.0, *, events: bool = True,
                 max_watches: int | None = None) -> None:  # fmt: skip
        self.baseline, self.suffix, self.audit, self.interval = baseline, suffix, audit, interval
        self._lock = threading.Lock()  # one rename at a time: the watch's or the sweep's
        self._stop, self._wake = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="git-watch", daemon=True)
        self.events = (
            GitEvents(baseline, suffix, self._lock, self._on_renamed, self._on_degraded,
                      max_watches) if events else None
        )  # fmt: skip

    def start(self) -> GitWatch:
        """Watch every folder (a walk of the workspace: call it before the agent starts), then
        sweep in a thread."""
        if self.events is not None:
            self.events.start()
            if self.events.degraded is None:
                self._audit({"type": "git-watch", "state": "watching", **self._counts()})
        self._thread.start()
        return self

    @property
    def degraded(self) -> bool:
        return self.events is not None and self.events.degraded is not None

    def _run(self) -> None:
        pause, warned = self.interval, False
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                return
            began = time.monotonic()
            try:
                sweep = self.baseline.sweep(self.suffix, lock=self._lock)
                report(sweep, "during the session", self.audit, warn=not warned)
                warned = warned or not sweep.complete
            except Exception as exc:  # the final sweep still runs; say why this one did not
                print(f"ironcurtain: git metadata check failed: {exc}", file=sys.stderr)
            took = time.monotonic() - began
            pause = max(FAST_INTERVAL, took) if self.degraded else max(self.interval, 10 * took)

    def _on_renamed(self, renamed: list[tuple[Found, str]]) -> None:
        report(Sweep(tuple(renamed), True), "during the session, as it appeared", self._audit)

    def _on_degraded(self, reason: str) -> None:
        print("ironcurtain: WARNING: git metadata the agent makes is no longer caught the moment "
              f"it appears everywhere in its workspace: {reason}. Until the session ends the "
              "guard sweeps the whole workspace back to back instead: git or an IDE run there "
              "meanwhile may still read what the agent made since the last sweep",
              file=sys.stderr, flush=True)  # fmt: skip
        self._audit({"type": "git-watch", "state": "degraded", "reason": reason,
                     **self._counts()})  # fmt: skip
        self._wake.set()

    def _counts(self) -> dict:
        events = self.events
        return {"watches": events.watches, "maxWatches": events.max_watches} if events else {}

    def _audit(self, record: dict) -> None:
        try:
            self.audit(record)
        except Exception as exc:  # a broken log stops the session; the watch goes on meanwhile
            print(f"ironcurtain: the git guard's record was not audited: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.events is not None:
            self.events.stop()
