"""The wall-clock deadlines of one execution: guest code's (paused during tool calls) and the
whole run's (never paused).

wasmtime interrupts guest code when the engine's epoch passes the store's deadline; one daemon
thread advances the epoch every ``TICK_SECONDS``. Time spent inside ``tools.call`` is not
charged to guest code: a tool call has its own timeouts, and an escalated call may wait minutes
for a human, after which the guest must still be able to use the answer. The run's own limit
counts everything: once past it no tool call starts (``linking``), a call still in progress is
cut off by a ``call_tool`` that can stop waiting (Code Mode's, ``run_seconds_left``), and guest
code is interrupted there too, because the epoch deadline set on each resume is the nearer of
the two.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import wasmtime

__all__ = ["TICK_SECONDS", "GuestDeadline", "start_ticker", "stop_every_guest", "stopped_why"]

TICK_SECONDS = 0.02


class _Ticker:
    def __init__(self) -> None:
        self.count = 0  # ticks since start; read without a lock (an int read is atomic here)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._engine: wasmtime.Engine | None = None
        self.farthest = 1  # the most ticks ahead any deadline was set
        self.stopped: str | None = None  # why every guest of this process was stopped

    def start(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            if self._thread is None:
                self._engine = engine
                self._thread = threading.Thread(
                    target=self._run, args=(engine,), name="sandbox-epoch", daemon=True
                )
                self._thread.start()

    def _run(self, engine: wasmtime.Engine) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            engine.increment_epoch()
            self.count += 1


_ticker = _Ticker()


def start_ticker(engine: wasmtime.Engine) -> None:
    _ticker.start(engine)


def stop_every_guest(reason: str) -> None:
    """End the guest code running anywhere in this process within a tick, and any resumed after
    it until the next run starts (Ctrl-C in ``exec`` or a session; only they run guests
    in-process, one run at a time: the daemon runs jobs as child processes). Guest code that
    makes no tool call is stopped only by its epoch deadline, so the epoch is moved past the
    farthest deadline set; every deadline set from here on is the next tick, until a run is
    armed. The trap reads as ``stopped``."""
    _ticker.stopped = reason
    engine = _ticker._engine
    if engine is None:  # no guest has run
        return
    for _ in range(_ticker.farthest + 1):
        engine.increment_epoch()


def stopped_why() -> str | None:
    """The reason given to :func:`stop_every_guest`, once it was called."""
    return _ticker.stopped


class GuestDeadline:
    """``seconds`` of guest execution, armed on a store, paused around host calls, within
    ``run_seconds`` of wall-clock time for the whole run (counted from ``arm``)."""

    def __init__(
        self,
        seconds: float,
        run_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remaining = math.ceil(seconds / TICK_SECONDS) + 1
        self._since = _ticker.count
        self._run_seconds, self._clock = run_seconds, clock
        self._run_ends = clock() + run_seconds

    def arm(self, store: wasmtime.Store) -> None:
        _ticker.stopped = None  # a new run: a stop was for the one before
        self._run_ends = self._clock() + self._run_seconds
        store.set_epoch_deadline(self._ticks())
        self._since = _ticker.count

    def run_expired(self) -> bool:
        """Whether the whole run is past its wall-clock limit (tool calls included)."""
        return self._clock() >= self._run_ends

    def run_seconds_left(self) -> float:
        """Seconds before the whole run passes its wall-clock limit (0 once it has)."""
        return max(0.0, self._run_ends - self._clock())

    def _ticks(self) -> int:
        # A tick more than the time left: ticks come at least TICK_SECONDS apart, so the
        # interrupt never lands before the run's end and run_expired() is true when it does.
        if _ticker.stopped is not None:
            return 1
        left = math.ceil(max(0.0, self._run_ends - self._clock()) / TICK_SECONDS) + 1
        ticks = max(1, min(self.remaining, left))
        _ticker.farthest = max(_ticker.farthest, ticks)
        return ticks

    def pause(self) -> None:
        self.remaining = max(1, self.remaining - (_ticker.count - self._since))

    def resume(self, store_context: object) -> None:
        # Inside a host call wasmtime-py hands us a StoreContext, which carries the same
        # context pointer Store.set_epoch_deadline needs.
        wasmtime.Store.set_epoch_deadline(store_context, self._ticks())  # type: ignore[arg-type]
        self._since = _ticker.count
