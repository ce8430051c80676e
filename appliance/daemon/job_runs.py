"""Start one run of a job: ``ironcurtain start --job NAME --session-id ID`` as a child process.

The run is an ordinary session in its own process (the daemon holds no provider key and runs no
agent code): the child reads the config and the job, opens the session with the job's workspace,
policy, budgets and escalation deadline, and registers with the daemon like any session, so its
escalations reach the console and Signal. This module is a named process runner
(tests/architecture/boundary_rules.py): a fixed argument vector, no shell, stdin closed.

Each run appends one line to ``jobs/<name>/runs.jsonl`` when it ends: the session id, when it
started and ended, the exit status and what it means, and what started it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from appliance.chokepoint.server_pool import self_command
from appliance.daemon.jobs import Job, JobStore
from appliance.host.atomic import append_json_line
from appliance.session.core import new_session_id

__all__ = ["RunResult", "run_job"]

# `ironcurtain start`'s exit statuses (appliance/cli/start.py), as a run's outcome.
OUTCOMES = {
    0: "finished",
    1: "model error",
    2: "usage or configuration error",
    3: "budget used up",
    124: "stopped at the job's time limit",
    127: "could not start",
    130: "interrupted",
    143: "terminated",
}


@dataclass(frozen=True)
class RunResult:
    session_id: str
    exit_code: int
    log: Path | None

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, f"exit {self.exit_code}")


def run_job(
    store: JobStore,
    job: Job,
    *,
    trigger: str,
    output: IO[str] | None = None,
    timeout_s: float | None = None,
    stop: threading.Event | None = None,
    task: str | None = None,
    session_id: str | None = None,
) -> RunResult:
    """Run ``job`` now and wait for it. Its output goes to ``output`` (a terminal) when given,
    else to ``logs/<session>.log``. ``stop`` set (the daemon stopping) or ``timeout_s`` passed
    ends the run as Ctrl-C would: SIGTERM, so the session closes its audit and can be resumed,
    then SIGKILL after 15 s. ``task`` replaces the job's own (a Signal `new NAME TASK`). The
    run is recorded whatever happens."""
    session_id = session_id or new_session_id()
    # The run inherits this environment and reads its provider key from the config (or those
    # variables) itself, exactly as a `start` typed by the user would.
    argv = [*self_command(), "start", "--job", job.name, "--session-id", session_id]
    if task is not None:
        argv += ["--", task]  # one argument, never an option
    started = _now()
    log = None
    if output is None:
        logs = store.logs(job.name)
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = logs / f"{session_id}.log"
    code = -1
    try:
        with open(log, "w", encoding="utf-8") if log else _kept(output) as sink:
            code = _wait(
                subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
                ),
                stop,
                timeout_s,
            )
    except OSError as exc:
        if log is not None:
            log.write_text(f"could not start the run: {exc}\n", encoding="utf-8")
        code = 127
    result = RunResult(session_id, code, log)
    _record(store, job, result, started, trigger, task)
    return result


def _wait(child: subprocess.Popen, stop: threading.Event | None, timeout_s: float | None) -> int:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        expired = deadline is not None and time.monotonic() >= deadline
        if expired or (stop is not None and stop.is_set()):
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            return 124 if expired else child.returncode


class _kept:
    """``output`` as a context manager that does not close it."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream

    def __enter__(self) -> IO[str] | None:
        if self.stream is not None:
            self.stream.flush()
        return self.stream

    def __exit__(self, *exc_info: object) -> None:
        return None


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _record(
    store: JobStore, job: Job, result: RunResult, started: str, trigger: str, task: str | None
) -> None:
    entry = {
        "session": result.session_id,
        "started": started,
        "ended": _now(),
        "exitCode": result.exit_code,
        "outcome": result.outcome,
        "trigger": trigger,
        "log": str(result.log) if result.log else None,
    }
    if task is not None:
        entry["task"] = task[:2000]  # the one asked for (Signal), not the job's own
    store.folder(job.name).mkdir(parents=True, exist_ok=True, mode=0o700)
    append_json_line(store.runs_file(job.name), entry)
