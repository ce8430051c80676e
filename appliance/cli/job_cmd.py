"""``ironcurtain job add|list|run|enable|disable|remove|logs``: scheduled jobs.

A job is a task run as an ordinary session on a cron schedule by ``ironcurtain daemon``, with
its own workspace, policy (compiled from its own constitution, or the active one), budgets and
rule for unanswered escalations (``deny`` after its timeout, or ``pause`` until answered, up to
a day); its escalations reach the daemon's console and Signal like any session's. The model
behind the job is appliance/daemon/jobs.py; a run is ``ironcurtain start --job NAME``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from appliance.config.paths import AppPaths, app_paths

EXIT_CONFIG = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="job_command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="add a job: NAME --schedule CRON --task TEXT")
    add.add_argument("name")
    add.add_argument("--schedule", required=True, help="cron: minute hour day month weekday")
    add.add_argument("--task", required=True, help="what the agent is asked to do")
    add.add_argument("--constitution", type=Path, help="compile the job's own policy from this")
    add.add_argument("--workspace", type=Path, help="the agent's folder (default: its own)")
    add.add_argument("--on-escalation", choices=["deny", "pause"], default="deny",
                     help="unanswered escalations: deny after the timeout (default), or pause "
                     "the run until answered (up to a day)")  # fmt: skip
    add.add_argument("--escalation-timeout", type=int, metavar="SECONDS",
                     help="with --on-escalation deny (default: the config's)")  # fmt: skip
    add.add_argument("--budget", action="append", default=[], metavar="NAME=VALUE",
                     help="a resourceBudget limit, e.g. maxSteps=50 (repeatable)")  # fmt: skip
    add.add_argument("--disabled", action="store_true", help="add it switched off")
    add.add_argument("--signal-tasks", action="store_true",
                     help="let the paired Signal recipient run it with a task of their own "
                     "(`new NAME TASK`)")  # fmt: skip
    listing = sub.add_parser("list", help="jobs, their schedules, next and last runs")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    for name, text in (
        ("run", "run a job now, in this terminal (recorded like a scheduled run)"),
        ("enable", "switch a job on"),
        ("disable", "switch a job off (it keeps its files)"),
        ("remove", "remove a job (its workspace and past sessions are kept)"),
    ):
        sub.add_parser(name, help=text).add_argument("name")
    logs = sub.add_parser("logs", help="a job's runs; --last prints the last run's output")
    logs.add_argument("name")
    logs.add_argument("--last", action="store_true", help="print the last run's output")


def run(args: argparse.Namespace) -> int:
    from appliance.daemon.jobs import JobError, JobStore

    paths = app_paths()
    store = JobStore(paths)
    action = {
        "add": _add, "list": _list, "run": _run, "enable": _enable, "disable": _disable,
        "remove": _remove, "logs": _logs,
    }  # fmt: skip
    try:
        return action[args.job_command](args, store, paths)
    except (JobError, _Refused) as exc:
        print(f"ironcurtain job {args.job_command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG


class _Refused(Exception):
    pass


def _budget(items: list[str], paths: AppPaths):
    """The config's budget with the ``--budget`` limits applied, validated as the config is."""
    from pydantic import ValidationError

    from appliance.config.models import ResourceBudget
    from appliance.config.settings import ConfigError, load_config
    from appliance.daemon.jobs import first_problem

    if not items:
        return None
    try:
        base = load_config(paths).resource_budget.model_dump(by_alias=True)
    except ConfigError as exc:
        raise _Refused(str(exc)) from None
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in base:
            raise _Refused(f"--budget {item!r}: expected NAME=VALUE, NAME one of {', '.join(base)}")
        try:
            base[name] = json.loads(value)
        except ValueError:
            raise _Refused(f"--budget {item!r}: {value!r} is not a number or null") from None
    try:
        return ResourceBudget.model_validate_json(json.dumps(base))
    except ValidationError as exc:
        field, message, value = first_problem(exc)
        raise _Refused(f"--budget {field}: {message} (value: {value!r})") from None


def _add(args: argparse.Namespace, store, paths: AppPaths) -> int:
    from pydantic import ValidationError

    from appliance.daemon.jobs import Job, first_problem
    from appliance.host.workspace import WorkspaceRefused, check_workspace

    fields: dict = {
        "name": args.name, "schedule": args.schedule, "task": args.task,
        "enabled": not args.disabled, "onEscalation": args.on_escalation,
        "ownPolicy": args.constitution is not None, "signalTasks": args.signal_tasks,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
    }  # fmt: skip
    if args.escalation_timeout is not None:
        if args.on_escalation == "pause":
            raise _Refused("--escalation-timeout is for --on-escalation deny")
        fields["escalationTimeoutSeconds"] = args.escalation_timeout
    budget = _budget(args.budget, paths)
    if budget is not None:
        fields["budget"] = budget.model_dump(by_alias=True)
    if args.workspace is not None:
        fields["workspace"] = str(args.workspace.expanduser().absolute())
    try:
        job = Job.model_validate_json(json.dumps(fields))
    except ValidationError as exc:
        field, message, _ = first_problem(exc)
        raise _Refused(f"{field}: {message.removeprefix('Value error, ')}") from None
    if job.name in store.load():
        raise _Refused(f"a job named {job.name!r} exists (`ironcurtain job remove` it first)")
    try:
        workspace = check_workspace(
            store.workspace(job), paths.home, protected=paths.protected_patterns(),
            own_sandboxes=paths.sessions,
        )  # fmt: skip
    except WorkspaceRefused as exc:
        raise _Refused(str(exc)) from None
    if args.constitution is not None and _compile(args.constitution, store, job, paths) != 0:
        return 1
    store.put(job)
    print(f"added job {job.name}: {job.schedule} · workspace {workspace}")
    print(f"next run {_next(job)}; runs need `ironcurtain daemon` (or `ironcurtain job run`)")
    return 0


def _compile(constitution: Path, store, job, paths: AppPaths) -> int:
    """The job's own policy, compiled into a scratch folder and moved into place only whole."""
    import tempfile

    from appliance.cli.compile_cmd import compile_constitution
    from appliance.host.atomic import write_text_atomic

    try:
        text = constitution.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Refused(f"--constitution {constitution}: cannot read it ({exc})") from None
    folder = store.folder(job.name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = Path(tempfile.mkdtemp(prefix=".policy-", dir=folder))
    try:
        status = compile_constitution(paths, text, scratch)
        if status != 0:
            print(f"ironcurtain job add: job {job.name} not added", file=sys.stderr)
            shutil.rmtree(scratch, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.rmdir()  # made for this job only: nothing of it is left
            return status
        target = store.policy_dir(job)
        assert target is not None
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
        write_text_atomic(store.constitution(job.name), text)
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _next(job) -> str:
    from appliance.daemon.jobs import next_run

    if not job.enabled:
        return "(disabled)"
    return next_run(job, datetime.now().astimezone()).isoformat(timespec="minutes")


def _last(store, name: str) -> dict | None:
    runs = list(store.runs(name))
    return runs[-1] if runs else None


def _list(args: argparse.Namespace, store, paths: AppPaths) -> int:
    jobs = store.load()
    rows = []
    for job in jobs.values():
        last = _last(store, job.name)
        rows.append({
            "name": job.name, "schedule": job.schedule, "enabled": job.enabled,
            "nextRun": _next(job), "onEscalation": job.on_escalation,
            "policy": "own" if job.own_policy else "active",
            "workspace": str(store.workspace(job)), "task": job.task,
            "lastRun": last,
        })  # fmt: skip
    if args.json:
        print(json.dumps({"jobs": rows}, indent=2))
        return 0
    if not rows:
        print("no jobs (`ironcurtain job add NAME --schedule CRON --task TEXT` adds one)")
        return 0
    for row in rows:
        last = row["lastRun"]
        ran = f"{last['started']} {last['outcome']}" if last else "never"
        print(f"{row['name']}  {row['schedule']!r}  next {row['nextRun']}  last {ran}")
        print(f"    {row['task'][:100]}  (policy {row['policy']}, on escalation "
              f"{row['onEscalation']}, workspace {row['workspace']})")  # fmt: skip
    return 0


def _run(args: argparse.Namespace, store, paths: AppPaths) -> int:
    from appliance.daemon.job_runs import run_job

    job = store.get(args.name)
    result = run_job(store, job, trigger="manual", output=sys.stdout)
    print(f"ironcurtain job run: {job.name}: {result.outcome} (session {result.session_id})")
    return result.exit_code


def _switch(store, name: str, enabled: bool) -> None:
    job = store.get(name)
    store.put(job.model_copy(update={"enabled": enabled}), replace=True)


def _enable(args: argparse.Namespace, store, paths: AppPaths) -> int:
    _switch(store, args.name, True)
    print(f"job {args.name} enabled; next run {_next(store.get(args.name))}")
    return 0


def _disable(args: argparse.Namespace, store, paths: AppPaths) -> int:
    _switch(store, args.name, False)
    print(f"job {args.name} disabled")
    return 0


def _remove(args: argparse.Namespace, store, paths: AppPaths) -> int:
    job = store.remove(args.name)
    print(f"removed job {job.name}; kept: its workspace {store.workspace(job)}, its sessions "
          f"and their audits, and its run logs in {store.folder(job.name)}")  # fmt: skip
    return 0


def _logs(args: argparse.Namespace, store, paths: AppPaths) -> int:
    runs = list(store.runs(args.name))
    if not runs:
        if args.name not in store.load():
            store.get(args.name)  # raises: no such job
        print(f"job {args.name} has not run yet")
        return 0
    if args.last:
        log = runs[-1].get("log")
        if not log:
            print(f"the last run of {args.name} ran in a terminal (`job run`): no log kept")
            return 0
        try:
            sys.stdout.write(Path(log).read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise _Refused(f"cannot read {log}: {exc.strerror}") from None
        return 0
    for entry in runs:
        print(f"{entry.get('started')}  {entry.get('outcome')}  session {entry.get('session')}"
              f"  ({entry.get('trigger')})")  # fmt: skip
    return 0
