"""The wall-clock deadline for guest code, counted in epoch ticks and paused during tool calls.

wasmtime interrupts guest code when the engine's epoch passes the store's deadline; one daemon
thread advances the epoch every ``TICK_SECONDS``. Time spent inside ``tools.call`` is not
charged: a tool call has its own timeouts, and an escalated call may wait minutes for a human,
after which the guest must still be able to use the answer.
"""

from __future__ import annotations

import math
import threading
import time

import wasmtime

__all__ = ["TICK_SECONDS", "GuestDeadline", "start_ticker"]

TICK_SECONDS = 0.02


class _Ticker:
    def __init__(self) -> None:
        self.count = 0  # ticks since start; read without a lock (an int read is atomic here)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, engine: wasmtime.Engine) -> None:
        with self._lock:
            if self._thread is None:
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


class GuestDeadline:
    """``seconds`` of guest execution, armed on a store, paused around host calls."""

    def __init__(self, seconds: float) -> None:
        self.remaining = math.ceil(seconds / TICK_SECONDS) + 1
        self._since = _ticker.count

    def arm(self, store: wasmtime.Store) -> None:
        store.set_epoch_deadline(self.remaining)
        self._since = _ticker.count

    def pause(self) -> None:
        self.remaining = max(1, self.remaining - (_ticker.count - self._since))

    def resume(self, store_context: object) -> None:
        # Inside a host call wasmtime-py hands us a StoreContext, which carries the same
        # context pointer Store.set_epoch_deadline needs.
        wasmtime.Store.set_epoch_deadline(store_context, self.remaining)  # type: ignore[arg-type]
        self._since = _ticker.count
