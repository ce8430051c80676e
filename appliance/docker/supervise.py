"""Watching a running agent container: its exit, the session's budgets, stop requests, and
escalations waiting for a human (the terminal bell rings; the escalation listener answers).

`Stop` collects every reason to end early (a signal, the audit log failing, a budget used up)
from any thread; `supervise` acts on it from the session's event loop. Signal handlers and the
gate's thread only set flags here, so the cleanup in the caller's `finally` always runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio

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
    attached = await anyio.to_thread.run_sync(_start, container, pty, out)

    def wait() -> None:
        try:
            result["status"] = int(container.wait().get("StatusCode", 1))
        except Exception:  # the engine went away or the container was removed under us
            result["status"] = 1
        finally:
            done.set()

    threading.Thread(target=wait, name="container-wait", daemon=True).start()
    bell = EscalationBell(Path(session.dir) / "escalations", pty=pty)
    stopping = False
    while not done.is_set():
        await anyio.sleep(POLL_SECONDS)
        bell.poll()
        budget = meter.check()
        if budget is not None:
            stop.request(f"budget: {budget}")
        for check in health:
            if (problem := check()) is not None:
                stop.request(problem)
        if stop.requested and (stop.kill or not stopping):
            stopping = True
            await anyio.to_thread.run_sync(_halt, container, stop.kill)
    await anyio.to_thread.run_sync(attached.join, 5)
    return result.get("status", 1)


def _start(container: Any, pty: bool, out: TextIO) -> threading.Thread:
    """Start the container; attach the terminal (pty) or stream its output to `out`."""
    if pty:
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise AttachError("PTY mode needs the `docker` command line client on PATH")
        # The docker CLI puts the terminal in raw mode and restores it: the agent's TUI is the
        # user's terminal, Ctrl-C included.
        argv = [docker_cli, "start", "--attach", "--interactive", container.id]
        process = subprocess.Popen(argv)
        _wait_until_started(container, process)
        thread = threading.Thread(target=process.wait, daemon=True)
    else:
        container.start()
        thread = threading.Thread(target=_stream_logs, args=(container, out), daemon=True)
    thread.start()
    return thread


def _wait_until_started(container: Any, process: subprocess.Popen, timeout: float = 60) -> None:
    """The CLI starts the container asynchronously, and the engine's `wait` on a container that
    has not started yet returns at once (exit 0): so wait until it has left "created"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status != "created":
            return
        if process.poll() is not None:
            raise AttachError(f"`docker start --attach` exited ({process.returncode}) "
                               "before the container started")  # fmt: skip
        time.sleep(0.05)
    process.kill()
    raise AttachError(f"the container did not start within {timeout:.0f} s")


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
