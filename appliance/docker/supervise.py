"""Watching a running agent container: its exit, the session's budgets, stop requests, and
escalations waiting for a human (the terminal bell rings; the escalation listener answers).

`Stop` collects every reason to end early (a signal, the audit log failing, a budget used up)
from any thread; `supervise` acts on it from the session's event loop. Signal handlers and the
gate's thread only set flags here, so the cleanup in the caller's `finally` always runs.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from appliance.errors import ApplianceError

__all__ = ["AttachError", "DiskWatch", "Stop", "alive_check", "supervise"]

POLL_SECONDS = 0.2
GRACE_SECONDS = 10  # `docker stop` waits this long after SIGTERM before SIGKILL


class AttachError(ApplianceError):
    """PTY mode could not attach the terminal (operator error: the message says why)."""


class Stop:
    """Why the session must end early, and how hard: graceful (stop) or at once (kill)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.kill = False
        self._interrupts = 0
        self._lock = threading.Lock()

    def request(self, reason: str, *, kill: bool = True) -> None:
        with self._lock:
            self.reason = self.reason or reason
            self.kill = self.kill or kill

    def request_from_thread(self, reason: str) -> None:
        self.request(f"the chokepoint stopped: {reason}")

    def on_signal(self, signum: int) -> None:
        if signum == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts == 1:
                print("\nironcurtain: stopping the agent (Ctrl-C again to kill it)",
                      file=sys.stderr, flush=True)  # fmt: skip
            self.request("interrupted (Ctrl-C)", kill=self._interrupts > 1)
        else:
            self.request(f"received {signal.Signals(signum).name}")

    @property
    def requested(self) -> bool:
        return self.reason is not None


async def supervise(
    container: Any,
    session: Any,
    meter: Any,
    stop: Stop,
    *,
    pty: bool,
    out: TextIO,
    health: Sequence[Callable[[], str | None]] = (),
) -> int:
    """Start `container`, wait for it to end or for a reason to end it; return its exit code.
    Every `health` check runs at each poll (5 a second): a reason from one kills the container
    (a dead credential proxy or gate, a disk filling up)."""
    result: dict[str, int] = {}
    done = threading.Event()
    messages: queue.SimpleQueue[str] = queue.SimpleQueue()  # typed at the --pty prompt
    escalations = Path(session.dir) / "escalations"
    attached = await anyio.to_thread.run_sync(
        _start, container, pty, out, escalations, session.id, messages
    )

    def wait() -> None:
        try:
            result["status"] = int(container.wait().get("StatusCode", 1))
        except Exception:  # the engine went away or the container was removed under us
            result["status"] = 1
        finally:
            done.set()

    threading.Thread(target=wait, name="container-wait", daemon=True).start()
    # With --pty the terminal relay opens its prompt for a waiting call; otherwise the bell.
    bell = None if pty else EscalationBell(escalations, pty=False)
    stopping = False
    # The messages' grants, in the order typed: with taskPlan on, each waits for its plan (a
    # model call) in its own task, so the polls below go on meanwhile.
    send, receive = anyio.create_memory_object_stream[str](_MESSAGES_WAITING)
    async with anyio.create_task_group() as grants:
        grants.start_soon(_grant_messages, session, receive)
        while not done.is_set():
            await anyio.sleep(POLL_SECONDS)
            if bell is not None:
                bell.poll()
            _take_messages(session, messages, send)
            budget = meter.check()
            if budget is not None:
                stop.request(f"budget: {budget}")
            for check in health:
                if (problem := check()) is not None:
                    stop.request(problem)
            if stop.requested and (stop.kill or not stopping):
                stopping = True
                await anyio.to_thread.run_sync(_halt, container, stop.kill)
        send.close()  # the messages typed before the end are granted (and audited) first
    await anyio.to_thread.run_sync(attached.join, 5)
    return result.get("status", 1)


def _start(
    container: Any,
    pty: bool,
    out: TextIO,
    escalations: Path,
    session_id: str,
    messages: queue.SimpleQueue[str],
) -> threading.Thread:
    """Start the container; relay the user's terminal to its tty (pty, see terminal.py: the
    agent's TUI, Ctrl-C included, and IronCurtain's prompt on Ctrl-]) or stream its output."""
    if pty:
        from appliance.docker.terminal import start_relay

        try:
            return start_relay(container, escalations, session_id, messages,
                               fd_in=sys.stdin.fileno(), fd_out=sys.stdout.fileno())  # fmt: skip
        except OSError as exc:
            raise AttachError(f"cannot attach the terminal to the container: {exc}") from exc
    container.start()
    thread = threading.Thread(target=_stream_logs, args=(container, out), daemon=True)
    thread.start()
    return thread


_MESSAGES_WAITING = 64  # typed faster than they are planned: the rest granted without a plan


def _take_messages(
    session: Any, messages: queue.SimpleQueue[str], planned: MemoryObjectSendStream[str]
) -> None:
    """Messages the user typed at the --pty prompt: the trusted user message the auto-approver
    weighs escalations against, its values granted for the task (as a typed task's are), after
    its task plan when taskPlan is on (``_grant_messages``)."""
    while True:
        try:
            text = messages.get_nowait()
        except queue.Empty:
            return
        session.chokepoint.latest_user_message = text
        try:
            planned.send_nowait(text)
        except anyio.WouldBlock:
            session.chokepoint.grant_task(text)


async def _grant_messages(session: Any, planned: MemoryObjectReceiveStream[str]) -> None:
    async with planned:
        async for text in planned:
            await session.chokepoint.grant_planned_task(text)


def _stream_logs(container: Any, out: TextIO) -> None:
    try:
        for chunk in container.logs(stream=True, follow=True):
            out.write(chunk.decode("utf-8", errors="replace"))
            out.flush()
    except Exception:  # noqa: S110 - the container is gone; its exit status tells the rest
        pass


def _halt(container: Any, kill: bool) -> None:
    try:
        if kill:
            container.kill()
        else:
            container.stop(timeout=GRACE_SECONDS)
    except Exception:  # noqa: S110 - already stopped or removed: the wait thread reports it
        pass


def alive_check(name: str, alive: Callable[[], bool]) -> Callable[[], str | None]:
    """A health check: `alive()` false (or raising) means `name` died."""

    def check() -> str | None:
        try:
            ok = alive()
        except Exception:
            ok = False
        return None if ok else f"{name} died; the agent cannot go on without it"

    return check


class DiskWatch:
    """A watched disk limit for the workspace's filesystem (a bind mount has no quota of its
    own): the session stops once that filesystem's used space grew by more than `max_growth`
    bytes since the start, or its free space fell under `min_free` bytes. Cheap (one statvfs);
    it counts every writer on that filesystem, so it errs towards stopping."""

    def __init__(self, path: Path, *, max_growth: int, min_free: int) -> None:
        self.path, self.max_growth, self.min_free = path, max_growth, min_free
        self.start_used = self._used_free()[0]

    def _used_free(self) -> tuple[int, int]:
        info = os.statvfs(self.path)
        return (info.f_blocks - info.f_bfree) * info.f_frsize, info.f_bavail * info.f_frsize

    def __call__(self) -> str | None:
        try:
            used, free = self._used_free()
        except OSError as exc:
            return f"the workspace's disk cannot be read ({exc.strerror})"
        grown = used - self.start_used
        if grown > self.max_growth:
            return (f"disk limit: {grown // 2**20} MiB written to the workspace's filesystem "
                    f"(limit {self.max_growth // 2**20} MiB)")  # fmt: skip
        if free < self.min_free:
            return f"disk limit: only {free // 2**20} MiB left on the workspace's filesystem"
        return None


class EscalationBell:
    """Rings the terminal bell once per escalation request that waits for an answer."""

    def __init__(self, folder: Path, *, pty: bool, stream: TextIO | None = None) -> None:
        self.folder = folder
        self.pty = pty
        self.stream = stream or sys.stderr
        self.seen: set[str] = set()

    def poll(self) -> int:
        rung = 0
        for request in sorted(self.folder.glob("request-*.json")):
            request_id = request.name[len("request-") : -len(".json")]
            if request_id in self.seen:
                continue
            self.seen.add(request_id)
            if (self.folder / f"response-{request_id}.json").exists():
                continue
            text = "\a" if self.pty else (
                "\a\nironcurtain: a tool call waits for approval: run "
                "`ironcurtain escalation-listener` in another terminal\n"
            )  # fmt: skip
            self.stream.write(text)
            self.stream.flush()
            rung += 1
        return rung
