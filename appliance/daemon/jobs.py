"""Scheduled jobs: a task that runs as an ordinary session on a cron schedule.

A job is data in ``<home>/jobs/jobs.json`` (a protected path: no agent can edit a job, its
constitution or its compiled policy), with per job a folder ``<home>/jobs/<name>/`` holding its
constitution and compiled policy (when it has its own), ``runs.jsonl`` (one line per run) and
``logs/<session>.log`` (what the run printed). Its workspace is ``<home>/job-workspaces/<name>``
unless the user names one. A run is ``ironcurtain start --job NAME``: the same session, policy
engine, chokepoint and audit as any task, with the job's workspace, policy, budgets and
escalation rule (``deny``: unanswered escalations are denied after the job's timeout;
``pause``: the run waits for an answer, up to a day).

The schedule is standard five-field cron (minute hour day-of-month month day-of-week) read by
``cronsim``, in the machine's local time zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from appliance.config.models import DEFAULT_ESCALATION_TIMEOUT_S, ResourceBudget
from appliance.config.paths import AppPaths
from appliance.errors import ApplianceError
from appliance.host.atomic import write_text_atomic
from appliance.host.workspace import JOB_WORKSPACES

__all__ = ["Job", "JobError", "JobStore", "first_problem", "next_run"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
PAUSE_TIMEOUT_S = 86_400  # "pause": the longest an escalation may wait (the config's bound)


class JobError(ApplianceError, ValueError):
    """A job that cannot be added, found or read; the message names the job, field and value."""


def check_schedule(expression: str) -> str:
    try:
        CronSim(expression, datetime.now().astimezone())
    except (CronSimError, ValueError) as exc:
        raise ValueError(
            f"{expression!r} is not a cron schedule ({exc}); five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 7 * * 1-5' for 07:00 on weekdays"
        ) from None
    return expression


class Job(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
    )

    name: str
    schedule: str
    task: str = Field(min_length=1, max_length=20_000)
    enabled: bool = True
    # what an unanswered escalation does in an unattended run
    on_escalation: Literal["deny", "pause"] = "deny"
    escalation_timeout_seconds: int = Field(DEFAULT_ESCALATION_TIMEOUT_S, ge=5, le=86_400)
    budget: ResourceBudget | None = None  # None: the config's resourceBudget
    workspace: str | None = None  # None: <home>/job-workspaces/<name>
    own_policy: bool = False  # compiled from the job's constitution into jobs/<name>/policy
    # The paired Signal recipient may run this job with a task of their own: `new NAME TASK`.
    signal_tasks: bool = False
    created: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: a job name is 1-40 lower-case letters, digits and dashes, "
                "starting with a letter or digit"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule(value)

    def timeout_seconds(self) -> int:
        return PAUSE_TIMEOUT_S if self.on_escalation == "pause" else self.escalation_timeout_seconds


def first_problem(exc: ValidationError) -> tuple[str, str, object]:
    """A validation error's first problem as (dotted field, message, the value given): what
    every refusal of a job, its file or its budget names."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"], first.get("input")


def next_run(job: Job, after: datetime) -> datetime:
    """The first time strictly after ``after`` (an aware datetime) the job's schedule fires."""
    return next(iter(CronSim(job.schedule, after)))


class JobStore:
    """``jobs.json`` and the per-job folders; every write is atomic (0600)."""

    def __init__(self, paths: AppPaths) -> None:
        self.paths = paths
        self.root = paths.home / "jobs"
        self.file = self.root / "jobs.json"

    def folder(self, name: str) -> Path:
        return self.root / name

    def policy_dir(self, job: Job) -> Path | None:
        return self.folder(job.name) / "policy" if job.own_policy else None

    def constitution(self, name: str) -> Path:
        return self.folder(name) / "constitution.md"

    def runs_file(self, name: str) -> Path:
        return self.folder(name) / "runs.jsonl"

    def logs(self, name: str) -> Path:
        return self.folder(name) / "logs"

    def workspace(self, job: Job) -> Path:
        if job.workspace:
            return Path(job.workspace)
        return self.paths.home / JOB_WORKSPACES / job.name

    def load(self) -> dict[str, Job]:
        try:
            text = self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise JobError(f"cannot read {self.file}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            entries = data["jobs"]
            if not isinstance(entries, dict):
                raise TypeError("'jobs' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise JobError(f"{self.file}: not a jobs file ({exc})") from None
        jobs = {}
        for name, entry in entries.items():
            try:
                job = Job.model_validate_json(json.dumps(entry))
            except ValidationError as exc:
                field, message, value = first_problem(exc)
                raise JobError(
                    f"{self.file}: jobs.{name}.{field or '(entry)'}: {message} (value: {value!r})"
                ) from None
            if job.name != name:
                raise JobError(f"{self.file}: jobs.{name}.name is {job.name!r}, not {name!r}")
            jobs[name] = job
        return jobs

    def get(self, name: str) -> Job:
        job = self.load().get(name)
        if job is None:
            raise JobError(f"no job named {name!r} (`ironcurtain job list` shows them)")
        return job

    def save(self, jobs: dict[str, Job]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = {
            "jobs": {
                name: job.model_dump(mode="json", by_alias=True, exclude_none=True)
                for name, job in sorted(jobs.items())
            }
        }
        write_text_atomic(self.file, json.dumps(body, indent=2) + "\n")

    def put(self, job: Job, *, replace: bool = False) -> None:
        jobs = self.load()
        if job.name in jobs and not replace:
            raise JobError(f"a job named {job.name!r} exists (`ironcurtain job remove` it first)")
        jobs[job.name] = job
        self.save(jobs)

    def remove(self, name: str) -> Job:
        jobs = self.load()
        job = jobs.pop(name, None)
        if job is None:
            raise JobError(f"no job named {name!r} (`ironcurtain job list` shows them)")
        self.save(jobs)
        return job

    def runs(self, name: str) -> Iterator[dict]:
        """Each recorded run of ``name``, oldest first (unreadable lines are skipped)."""
        try:
            lines = self.runs_file(name).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry
