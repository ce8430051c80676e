"""Stopping a request the client cancelled (MCP ``notifications/cancelled``).

The shipped servers run each ``tools/call`` (and each host method) on a worker thread, and a
thread cannot be stopped from outside: a request stops where its own code looks. So every
request gets a :class:`Cancellation`, bound to the worker while it runs, and the code that can
wait long looks at it:

- :func:`checkpoint` raises :class:`CallCancelled` once the request is cancelled (between the
  chunks of a file write, the entries of a walk, the git commands of one tool);
- :func:`on_cancel` runs a hook the moment the cancellation arrives, on the reading thread,
  for what blocks in the kernel: the git runner's hook wakes its wait so it kills git's process
  group, the fetch and GitHub streams' hook shuts their socket down.

A hook must be quick, must not raise and must not touch its cancellation (it runs on the thread
that reads the client's lines, under the cancellation's lock, so that it never runs once its
block has ended: a hook may act on a descriptor the block closes afterwards); one that raises is
reported on stderr and the others still run. :class:`CallCancelled` is a
``BaseException``, like asyncio's ``CancelledError``, so a handler's ``except Exception`` cannot
swallow it and go on. :class:`InFlight` maps request ids to their cancellations and reads a
``notifications/cancelled``: anything it cannot match (an unknown or finished id, an id of the
wrong type, no params) is ignored, as the specification asks.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "CallCancelled",
    "Cancellation",
    "InFlight",
    "bound",
    "checkpoint",
    "on_cancel",
    "report",
]

MAX_REASON = 200  # characters of the client's reason kept for the operator's log


class CallCancelled(BaseException):
    """The client cancelled the request this code serves: unwind, leave nothing half-made."""


class Cancellation:
    """One request's cancellation: set once, by the client, unless the answer went first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self._finished = False
        self.reason: str | None = None  # set when cancelled (possibly empty)

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str) -> bool:
        """Cancel; False when the request already answered or was cancelled before."""
        with self._lock:
            if self._finished or self.reason is not None:
                return False
            self.reason = reason
            for hook in self._hooks.values():
                _run(hook)
        return True

    def finish(self) -> bool:
        """The request is about to answer: True when it may (it was not cancelled first)."""
        with self._lock:
            self._finished = True
            return self.reason is None

    def check(self) -> None:
        if self.reason is not None:
            raise CallCancelled(self.reason)

    @contextmanager
    def hook(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` if the request is cancelled while the block runs (at once if it was)."""
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._hooks[key] = hook
            if self.reason is not None:
                _run(hook)
        try:
            yield
        finally:
            with self._lock:
                self._hooks.pop(key, None)


def _run(hook: Callable[[], None]) -> None:
    try:
        hook()
    except Exception:  # the reader thread must go on; the operator sees what failed
        traceback.print_exc(file=sys.stderr)


_CURRENT: ContextVar[Cancellation | None] = ContextVar("mcpio_cancellation", default=None)


@contextmanager
def bound(cancellation: Cancellation) -> Iterator[None]:
    """Make ``cancellation`` the current request's for the block (the worker thread's)."""
    token = _CURRENT.set(cancellation)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> Cancellation | None:
    return _CURRENT.get()


def checkpoint() -> None:
    """Raise :class:`CallCancelled` if the current request was cancelled (no-op outside one)."""
    cancellation = _CURRENT.get()
    if cancellation is not None:
        cancellation.check()


@contextmanager
def on_cancel(hook: Callable[[], None]) -> Iterator[None]:
    """:meth:`Cancellation.hook` for the current request; nothing outside a request."""
    cancellation = _CURRENT.get()
    if cancellation is None:
        yield
        return
    with cancellation.hook(hook):
        yield


class InFlight:
    """The requests a connection is handling, by id, for ``notifications/cancelled``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[tuple[str, object], list[Cancellation]] = {}

    @staticmethod
    def _key(request_id: object) -> tuple[str, object] | None:
        # JSON-RPC ids are strings or numbers; 1 and "1" are different requests. Anything else
        # (a list, an object, true) cannot be named by a cancellation.
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            return None
        return (type(request_id).__name__, request_id)

    def add(self, request_id: object) -> Cancellation:
        cancellation = Cancellation()
        key = self._key(request_id)
        if key is not None:
            with self._lock:
                self._by_id.setdefault(key, []).append(cancellation)
        return cancellation

    def remove(self, request_id: object, cancellation: Cancellation) -> None:
        key = self._key(request_id)
        if key is None:
            return
        with self._lock:
            entries = self._by_id.get(key, [])
            if cancellation in entries:
                entries.remove(cancellation)
            if not entries:
                self._by_id.pop(key, None)

    def cancel(self, params: object) -> list[Cancellation]:
        """Cancel what ``params`` names; the cancellations that took effect (none: ignored)."""
        if not isinstance(params, dict):
            return []
        key = self._key(params.get("requestId"))
        if key is None:
            return []
        reason = params.get("reason")
        text = reason[:MAX_REASON] if isinstance(reason, str) else ""
        with self._lock:
            entries = list(self._by_id.get(key, []))
        return [c for c in entries if c.cancel(text)]


def report(
    server: str,
    request_id: object,
    params: object,
    cancellation: Cancellation,
    seconds: float,
    stopped: bool,
) -> None:
    """One line on stderr (the operator's log) for a request cancelled by the client."""
    # The client's id, tool name and reason are quoted with repr: no line of theirs can pose as
    # a line of ours in the log.
    tool = params.get("name") if isinstance(params, dict) else None
    what = f" ({str(tool)[:80]!r})" if tool is not None else ""
    outcome = "stopped" if stopped else "finished before it could stop"
    print(
        f"{server}: request {repr(request_id)[:80]}{what} cancelled by the client "
        f"(reason {cancellation.reason!r}): {outcome} after {seconds:.2f} s; no answer sent",
        file=sys.stderr,
        flush=True,
    )
