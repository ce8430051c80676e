"""Scheduled jobs: the CLI that adds and lists them (every bad input refused, nothing written),
and real runs: a job fired by its schedule (the clock injected) runs as a real session against a
scripted model on loopback, and a job whose call escalates has it answered from the scripted
Signal peer through the daemon, or denied at its timeout when nobody answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from signal_peer import RECIPIENT, SAFETY, SignalPeer

from appliance.agent.scripted_llm import ScriptedLLM
from appliance.config.paths import AppPaths
from appliance.daemon.jobs import Job, JobStore, next_run
from appliance.daemon.run import Daemon, DaemonFiles
from appliance.daemon.scheduler import Scheduler
from appliance.daemon.signal import SignalConfig
from wasm_guest.build import DEFAULT_OUT, ensure_built

CLI = [sys.executable, "-m", "appliance.cli"]
SHARED_CACHE = DEFAULT_OUT / "test-cache"  # the compiled guest, shared with the Code Mode tests


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """An appliance home the job runs (child processes) use too."""
    ensure_built()
    paths = AppPaths(home=tmp_path / "home", cache=SHARED_CACHE)
    paths.home.mkdir()
    monkeypatch.setenv("IRONCURTAIN_HOME", str(paths.home))
    monkeypatch.setenv("IRONCURTAIN_CACHE", str(SHARED_CACHE))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return paths


def _job(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*CLI, "job", *args], capture_output=True, text=True, timeout=120, env=os.environ
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _model(paths: AppPaths, llm: ScriptedLLM, **extra) -> None:
    config = {"agentModelId": "openai:scripted", "openaiApiKey": "sk-test-not-real",
              "openaiBaseUrl": llm.openai_base, **extra}  # fmt: skip
    paths.config_file.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["Bad_Name", "--schedule", "0 7 * * *", "--task", "t"], "job name is 1-40"),
        (["ok", "--schedule", "61 7 * * *", "--task", "t"], "is not a cron schedule"),
        (["ok", "--schedule", "0 7 * *", "--task", "t"], "is not a cron schedule"),
        (["ok", "--schedule", "0 7 * * *", "--task", ""], "task"),
        (["ok", "--schedule", "@reboot", "--task", "t"], "is not a cron schedule"),
        (["ok", "--schedule", "0 7 * * *", "--task", "t", "--budget", "maxSteps=0"], "maxSteps"),
        (["ok", "--schedule", "0 7 * * *", "--task", "t", "--budget", "steps=3"], "NAME one of"),
        (["ok", "--schedule", "0 7 * * *", "--task", "t", "--budget", "maxSteps=x"], "a number"),
        (["ok", "--schedule", "* * * * *", "--task", "t", "--escalation-timeout", "2"],
         "escalationTimeoutSeconds"),
        (["ok", "--schedule", "* * * * *", "--task", "t", "--on-escalation", "pause",
          "--escalation-timeout", "60"], "is for --on-escalation deny"),
        (["ok", "--schedule", "* * * * *", "--task", "t", "--workspace", "~"], "home folder"),
        (["ok", "--schedule", "* * * * *", "--task", "t", "--workspace", "/etc"], "system folder"),
        (["ok", "--schedule", "* * * * *", "--task", "t", "--constitution", "/nonexistent.md"],
         "cannot read it"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_by_name_and_nothing_is_written(home, args, said) -> None:
    done = _job("add", *args)
    assert done.returncode == 2, done.stdout
    assert said in done.stderr, done.stderr
    assert not (home.home / "jobs" / "jobs.json").exists()


def test_add_list_disable_remove(home) -> None:
    _job("add", "morning", "--schedule", "0 7 * * 1-5", "--task", "summarise the inbox",
         "--budget", "maxSteps=20", check=True)  # fmt: skip
    again = _job("add", "morning", "--schedule", "0 8 * * *", "--task", "other")
    assert again.returncode == 2 and "exists" in again.stderr
    store = JobStore(home)
    job = store.get("morning")
    assert job.budget is not None and job.budget.max_steps == 20
    assert job.budget.max_total_tokens == 1_000_000  # the rest from the config
    assert (store.file.stat().st_mode & 0o777) == 0o600
    assert store.workspace(job) == home.home / "job-workspaces" / "morning"
    assert store.workspace(job).is_dir()
    listed = json.loads(_job("list", "--json", check=True).stdout)["jobs"]
    assert [(j["name"], j["enabled"], j["lastRun"]) for j in listed] == [("morning", True, None)]
    _job("disable", "morning", check=True)
    assert not store.get("morning").enabled
    assert "(disabled)" in _job("list", check=True).stdout
    _job("enable", "morning", check=True)
    removed = _job("remove", "morning", check=True)
    assert "kept: its workspace" in removed.stdout
    assert store.load() == {} and store.workspace(job).is_dir()
    missing = _job("run", "morning")
    assert missing.returncode == 2 and "no job named 'morning'" in missing.stderr


def test_the_jobs_folder_is_protected_from_every_agent(home) -> None:
    from appliance.chokepoint.policy_context import policy_context
    from policy.api import ToolCall, default_policy_dir, evaluate, load_policy

    sandbox = home.home / "job-workspaces" / "x"
    sandbox.mkdir(parents=True)
    ctx = policy_context(home, sandbox)
    target = str(home.home / "jobs" / "x" / "policy" / "compiled-policy.json")
    call = ToolCall(server="filesystem", tool="write_file",
                    arguments={"path": target, "content": "{}"})  # fmt: skip
    decision = evaluate(call, load_policy(default_policy_dir()), ctx)
    assert decision.decision == "deny" and decision.rule == "structural-protected-path"


def test_next_run_and_a_corrupt_jobs_file_is_named(home) -> None:
    job = Job(name="j", schedule="30 6 * * 1", task="t")
    monday = datetime(2026, 12, 7, 6, 0).astimezone()
    assert next_run(job, monday) == monday.replace(minute=30)
    store = JobStore(home)
    store.root.mkdir()
    store.file.write_text('{"jobs": {"j": {"name": "j", "schedule": "99 * * * *", "task": "t"}}}')
    listing = _job("list")
    assert listing.returncode == 2
    assert "jobs.j.schedule" in listing.stderr and "99 * * * *" in listing.stderr


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 6, 59, 30).astimezone()

    def __call__(self) -> datetime:
        return self.now


def test_a_job_fires_on_its_schedule_and_runs_as_a_real_session(home) -> None:
    steps = [
        {"code": "filesystem.write_file(path='report.md', content='# Morning report\\n')"},
        {"text": "Wrote report.md."},
    ]
    with ScriptedLLM(steps) as llm:
        _model(home, llm)
        _job("add", "report", "--schedule", "0 7 * * *", "--task", "write the report",
             check=True)  # fmt: skip
        clock, said = _Clock(), []
        scheduler = Scheduler(JobStore(home), clock=clock, say=said.append)
        assert scheduler.tick() == []  # first sight: the next 07:00 is noted, nothing runs
        clock.now += timedelta(seconds=20)
        assert scheduler.tick() == []  # 06:59:50: not yet
        clock.now += timedelta(seconds=15)
        assert scheduler.tick() == ["report"]  # 07:00:05
        assert scheduler.tick() == []  # once per fire time
        scheduler.join(120)
    workspace = home.home / "job-workspaces" / "report"
    assert (workspace / "report.md").read_text() == "# Morning report\n"
    (run,) = JobStore(home).runs("report")
    assert run["outcome"] == "finished" and run["trigger"] == "schedule", said
    session = home.sessions / run["session"]
    state = json.loads((session / "session.json").read_text())
    assert state["task"] == "write the report" and state["state"] == "finished"
    assert state["budget"]["steps"] == [2, 200]  # written live, after each model step
    calls = [json.loads(line) for line in (session / "audit.jsonl").read_text().splitlines()]
    assert [c["tool"] for c in calls if c.get("type") == "call"] == ["write_file"]
    assert "Wrote report.md." in Path(run["log"]).read_text()
    logs = _job("logs", "report", check=True).stdout
    assert run["session"] in logs and "finished" in logs
    assert any("job report: finished" in line for line in said)


def _with_signal(home: AppPaths, scheduler: Scheduler | None = None) -> tuple[SignalPeer, Daemon]:
    """A daemon (not started) paired with a scripted signal-cli peer."""
    peer = SignalPeer()
    signal = SignalConfig(port=peer.port, account="+1555999", recipient=RECIPIENT,
                          safety_number=SAFETY)  # fmt: skip
    daemon = Daemon(home.registry, DaemonFiles(home.home / "daemon"), "127.0.0.1", 0, signal,
                    home, scheduler)  # fmt: skip
    return peer, daemon


def _wait(predicate, timeout_s: float = 60, what=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what()}"
        time.sleep(0.05)


def test_a_jobs_escalation_reaches_signal_and_the_answer_lets_the_call_run(home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    steps = [
        {"code": f"filesystem.write_file(path={str(outside / 'shared.txt')!r}, content='hi')"},
        {"text": "Done."},
    ]
    peer, daemon = _with_signal(home)
    with ScriptedLLM(steps) as llm:
        _model(home, llm, allowedDirectories=[str(outside)])
        _job("add", "share", "--schedule", "0 7 * * *", "--task", "share the file",
             "--on-escalation", "pause", check=True)  # fmt: skip
        daemon.start()
        try:
            runner = threading.Thread(target=_job, args=("run", "share"))
            runner.start()
            _wait(
                lambda: any(m.startswith("IronCurtain escalation ") for m in peer.messages()),
                what=lambda: f"peer saw {peer.messages()}",
            )
            (message,) = [m for m in peer.messages() if m.startswith("IronCurtain escalation ")]
            assert "filesystem/write_file" in message and "shared.txt" in message
            short = message.split()[2].rstrip(":")
            peer.push(f"approve {short}")
            runner.join(120)
        finally:
            daemon.stop()
            peer.close()
    assert (outside / "shared.txt").read_text() == "hi"
    (run,) = JobStore(home).runs("share")
    assert run["outcome"] == "finished" and run["trigger"] == "manual"
    answers = [(a["channel"], a["outcome"]) for a in daemon.hub.answers()]
    assert ("signal", "approved") in answers


def test_an_unanswered_escalation_in_a_deny_job_is_denied_at_its_timeout(home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    steps = [
        {"code": f"filesystem.write_file(path={str(outside / 'x.txt')!r}, content='hi')"},
        {"text": "Could not write it."},
    ]
    with ScriptedLLM(steps) as llm:
        _model(home, llm, allowedDirectories=[str(outside)])
        _job("add", "quiet", "--schedule", "0 7 * * *", "--task", "write x",
             "--escalation-timeout", "5", check=True)  # fmt: skip
        began = time.monotonic()
        done = _job("run", "quiet")
    assert done.returncode == 0, done.stdout[-2000:]
    assert 5 <= time.monotonic() - began < 90
    assert not (outside / "x.txt").exists()
    (run,) = JobStore(home).runs("quiet")
    session = home.sessions / run["session"]
    calls = [json.loads(line) for line in (session / "audit.jsonl").read_text().splitlines()]
    (call,) = [c for c in calls if c.get("type") == "call"]
    assert call["decision"] == "escalate" and call["escalation"]["outcome"] == "timeout"


def test_job_runs_refuse_extra_arguments(home) -> None:
    done = subprocess.run([*CLI, "start", "--job", "x", "--sandbox", "/tmp"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "--job runs in the job's own workspace" in done.stderr
    done = subprocess.run([*CLI, "start", "--session-id", "abc", "t"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "--session-id is for job runs" in done.stderr


def test_a_task_from_signal_runs_as_a_job_that_opted_in_and_nothing_else(home, tmp_path):
    steps = [
        {"code": "filesystem.write_file(path='from-phone.txt', content='asked by phone')"},
        {"text": "Done."},
    ]
    said: list[str] = []
    peer, daemon = _with_signal(home, Scheduler(JobStore(home), say=said.append))
    replies = lambda: [m for m in peer.messages() if m.startswith(("started", "refused", "usage"))]  # noqa: E731
    with ScriptedLLM(steps) as llm:
        _model(home, llm)
        _job("add", "phone", "--schedule", "0 7 * * *", "--task", "the job's own task",
             "--signal-tasks", check=True)  # fmt: skip
        _job("add", "closed", "--schedule", "0 7 * * *", "--task", "t", check=True)
        daemon.start()
        try:
            peer.push("new closed do something")
            _wait(lambda: len(replies()) == 1, what=peer.messages)
            assert "does not take tasks from Signal" in replies()[0]
            peer.push("new phone")
            _wait(lambda: len(replies()) == 2, what=peer.messages)
            assert replies()[1].startswith("usage: new JOB TASK")
            peer.push("new nosuch write things")
            _wait(lambda: len(replies()) == 3, what=peer.messages)
            assert "no job named 'nosuch'" in replies()[2]
            peer.push("new phone write from-phone.txt", source="+15550000000")  # not paired
            peer.push("new phone write from-phone.txt")
            _wait(lambda: len(replies()) == 4, what=peer.messages)
            assert replies()[3].startswith("started job phone: session ")
            session_id = replies()[3].rsplit(" ", 1)[1]
            _wait(lambda: list(JobStore(home).runs("phone")), timeout_s=120)
            _wait(lambda: any(f"session {session_id} ended" in m for m in peer.messages()))
            # a job name that walks out of the jobs folder names no job
            peer.push("new ../phone write things")
            _wait(lambda: len(replies()) == 5, what=peer.messages)
            assert "no job named '../phone'" in replies()[4]
            # a task that looks like options stays the task: it never reaches `start` as one
            peer.push("new phone --sandbox / --policy-dir /tmp")
            _wait(lambda: len(replies()) == 6, what=peer.messages)
            second = replies()[5].rsplit(" ", 1)[1]
            _wait(lambda: len(list(JobStore(home).runs("phone"))) == 2, timeout_s=120)
            # the paired phone's key changes: no more tasks until it is trusted again
            peer.identities[0]["safetyNumber"] = "0" * 60
            peer.push("new phone write again.txt")
            _wait(lambda: len(replies()) == 7, what=peer.messages)
            assert "identity key changed" in replies()[6]
        finally:
            daemon.stop()
            peer.close()
    workspace = home.home / "job-workspaces" / "phone"
    assert (workspace / "from-phone.txt").read_text() == "asked by phone"
    assert not (workspace / "again.txt").exists()
    run, odd = JobStore(home).runs("phone")
    assert odd["task"] == "--sandbox / --policy-dir /tmp" and odd["session"] == second
    odd_state = json.loads((home.sessions / second / "session.json").read_text())
    assert odd_state["task"] == "--sandbox / --policy-dir /tmp"

    def header(session: str) -> dict:
        return json.loads((home.sessions / session / "audit.jsonl").read_text().splitlines()[0])

    assert header(second)["settings"]["sandbox"] == str(workspace)  # not "/"
    assert header(second)["policyDigest"] == header(session_id)["policyDigest"]  # not /tmp's
    assert run["trigger"] == "signal" and run["task"] == "write from-phone.txt"
    assert run["session"] == session_id and run["outcome"] == "finished"
    state = json.loads((home.sessions / session_id / "session.json").read_text())
    assert state["task"] == "write from-phone.txt"
    refused = [(a["channel"], a["outcome"]) for a in daemon.hub.answers()]
    assert refused.count(("signal", "refused")) == 2  # the stranger, the changed key
    assert not (home.home / "job-workspaces" / "closed" / "from-phone.txt").exists()


@pytest.mark.parametrize("inside", ["job-workspaces", "jobs/x", "sessions", "."])
def test_a_job_workspace_elsewhere_in_the_home_is_refused(home, inside) -> None:
    target = home.home / inside
    done = _job("add", "x", "--schedule", "* * * * *", "--task", "t", "--workspace", str(target))
    assert done.returncode == 2 and str(home.home) in done.stderr, done.stderr
    assert not (home.home / "jobs" / "jobs.json").exists()
