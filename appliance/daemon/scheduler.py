"""Fire jobs on their schedules while the daemon runs.

``tick(now)`` is called from the daemon's refresh loop (about once a second): each enabled job
whose next fire time has come is started on a thread of its own (``job_runs.run_job``), unless
its previous run is still going (then this fire is skipped and said in the daemon's output). The
next fire time is counted from when the daemon started (or the job was first seen), so runs
missed while no daemon was running are not made up at start: a 07:00 job whose machine was off
at 07:00 runs at the next 07:00. The clock is a parameter, so tests fire schedules at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from appliance.daemon.job_runs import RunResult, run_job
from appliance.daemon.jobs import Job, JobError, JobStore, next_run
from appliance.session.core import new_session_id

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

Runner = Callable[[JobStore, Job], RunResult]


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        runner: Runner | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.store, self.clock, self.say = store, clock, say
        self.stopping = threading.Event()
        self.runner = runner or (
            lambda store, job: run_job(store, job, trigger="schedule", stop=self.stopping)
        )
        self._due: dict[str, tuple[str, datetime]] = {}  # name -> (schedule, next fire)
        self._running: dict[str, threading.Thread] = {}
        self._problem: str | None = None

    def tick(self) -> list[str]:
        """Start every job that is due now; return the names started."""
        now = self.clock()
        try:
            jobs = self.store.load()
        except JobError as exc:
            if str(exc) != self._problem:  # said once, not every second
                self.say(f"ironcurtain daemon: jobs not run: {exc}")
                self._problem = str(exc)
            return []
        self._problem = None
        started = []
        for name in list(self._due):
            if name not in jobs:
                del self._due[name]  # removed
        for name, job in jobs.items():
            if not job.enabled:
                self._due.pop(name, None)
                continue
            schedule, due = self._due.get(name, (None, None))
            if schedule != job.schedule or due is None:
                self._due[name] = (job.schedule, next_run(job, now))  # new or re-scheduled
                continue
            if now < due:
                continue
            self._due[name] = (job.schedule, next_run(job, now))
            if self._busy(name):
                self.say(f"ironcurtain daemon: job {name}: still running; skipped the {due} run")
                continue
            self._launch(job)
            started.append(name)
        return started

    def start_now(self, name: str, task: str, trigger: str) -> str:
        """Run job ``name`` now with ``task`` instead of its own, on a thread; the reply for the
        one who asked (a Signal message): the session id, or why not. Refused: an unknown or
        disabled job, one that does not take tasks from Signal, one whose run still goes."""
        try:
            job = self.store.get(name)
        except JobError as exc:
            return f"refused: {exc}"
        if not job.signal_tasks:
            return (
                f"refused: job {name} does not take tasks from Signal "
                f"(on the daemon's machine: `ironcurtain job add {name} ... --signal-tasks`)"
            )
        if not job.enabled:
            return f"refused: job {name} is disabled"
        if self._busy(name):
            return f"refused: job {name} is still running"
        session_id = new_session_id()

        def run(store: JobStore, job: Job) -> RunResult:
            return run_job(store, job, trigger=trigger, stop=self.stopping, task=task,
                           session_id=session_id)  # fmt: skip

        self._launch(job, run)
        return f"started job {name}: session {session_id}"

    def _busy(self, name: str) -> bool:
        thread = self._running.get(name)
        return thread is not None and thread.is_alive()

    def _launch(self, job: Job, runner: Runner | None = None) -> None:
        """One run of ``job`` on a thread of its own (``runner``: another task than its own)."""
        thread = threading.Thread(target=self._run, args=(job, runner), name=f"job-{job.name}")
        self._running[job.name] = thread
        thread.start()

    def _run(self, job: Job, runner: Runner | None = None) -> None:
        self.say(f"ironcurtain daemon: job {job.name}: started")
        try:
            result = (runner or self.runner)(self.store, job)
        except Exception as exc:  # a run that cannot start must not stop the scheduler
            log.exception("job %s failed to run", job.name)
            self.say(f"ironcurtain daemon: job {job.name}: could not run: {exc}")
            return
        self.say(
            f"ironcurtain daemon: job {job.name}: {result.outcome} (session {result.session_id})"
        )

    def stop(self, timeout_s: float = 30) -> None:
        """End runs in progress (each session is terminated, closes its audit and can be
        resumed) and wait for their records."""
        self.stopping.set()
        self.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for runs in progress."""
        for thread in list(self._running.values()):
            thread.join(timeout_s)
