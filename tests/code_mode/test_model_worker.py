"""The model client in its own process (``appliance/agent/model_worker.py``): the same routes and
the same one-sentence errors as in-process litellm, a worker that dies or hangs never takes the
session with it, its answers are checked as untrusted data, and the kernel keeps it from writing
files or running programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from appliance.agent.loop import Agent, ModelError, ModelSettings
from appliance.agent.model_worker import WORKER_ARG, ModelWorker, _answer
from appliance.agent.scripted_llm import ScriptedLLM
from appliance.confinement import landlock
from appliance.session.budget import Budget, ResourceBudget

pytestmark = pytest.mark.anyio

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "entry" / "model_worker_answers.json"


async def _echo(code: str) -> str:
    return f"ran: {code}"


def _agent(model: ModelSettings, worker: ModelWorker) -> Agent:
    return Agent(
        model=model, execute=_echo, budget=Budget(ResourceBudget()), system="s", client=worker
    )


@pytest.fixture
def worker():
    made = ModelWorker("anthropic:claude-sonnet-4-6")
    yield made
    made.close()


@pytest.mark.parametrize(
    ("model_id", "attribute"),
    [("anthropic:claude-sonnet-4-6", "anthropic_base"), ("openai:gpt-5", "openai_base")],
)
async def test_a_conversation_runs_through_the_worker(model_id, attribute):
    worker = ModelWorker(model_id)
    try:
        with ScriptedLLM([{"code": "print(2)"}, {"text": "done"}]) as llm:
            settings = ModelSettings(
                model_id, api_key="k-test-0123", api_base=getattr(llm, attribute)
            )
            agent = _agent(settings, worker)
            answer = await agent.send("go")
            second = json.dumps(llm.requests[1])
        assert answer == "done"
        assert "ran: print(2)" in second  # the tool result went back through the worker
        assert agent.budget.tokens == 320 and agent.budget.steps == 2
        assert worker.pid is not None
    finally:
        worker.close()
    assert worker.pid is None


async def test_an_http_error_is_worded_as_in_process_and_the_turn_can_be_retried(worker):
    with ScriptedLLM([{"status": 401}, {"text": "back"}]) as llm:
        settings = ModelSettings(worker_model(), api_key="sk-ant-x", api_base=llm.anthropic_base)
        agent = _agent(settings, worker)
        with pytest.raises(ModelError) as caught:
            await agent.send("hello")
        assert str(caught.value) == (
            f"{llm.anthropic_base} refused the API key (401). "
            "Check ANTHROPIC_API_KEY or run `ironcurtain setup`."
        )
        assert "Traceback" in str(caught.value.__cause__)  # the worker's detail, for --debug
        assert await agent.resume() == "back"


def worker_model() -> str:
    return "anthropic:claude-sonnet-4-6"


async def test_a_worker_that_dies_fails_one_step_and_the_next_starts_a_new_one(worker):
    with ScriptedLLM([{"text": "one", "delay": 5}, {"text": "two"}]) as llm:
        settings = ModelSettings(worker_model(), api_key="k", api_base=llm.anthropic_base)
        agent = _agent(settings, worker)
        async with anyio.create_task_group() as group:

            async def kill_soon() -> None:
                while not llm.requests:  # the worker has sent the request: it is waiting
                    await anyio.sleep(0.05)
                os.kill(worker.pid, 9)

            group.start_soon(kill_soon)
            with pytest.raises(ModelError, match="the model client stopped"):
                await agent.send("hello")
        first = worker.pid
        assert first is None  # the dead worker is gone; the next step starts another
        assert await agent.resume() == "two"
        assert worker.pid is not None


async def test_a_worker_that_stopped_is_named_with_its_last_words_as_plain_text(worker):
    with ScriptedLLM([{"text": "late", "delay": 10}]) as llm:
        settings = ModelSettings(worker_model(), api_key="k", api_base=llm.anthropic_base)

        async def crash_while_it_waits() -> None:
            while not llm.requests:  # the worker is waiting for the model's answer
                await anyio.sleep(0.05)
            with (Path(worker._tmp) / "worker.log").open("ab") as out:  # a crash's (or a
                # hostile worker's) last words, with terminal control sequences in them
                out.write(b"\nImportError: no module named x \x1b[2J\x1b]0;owned\x07 end\n")
            os.kill(worker.pid, 9)

        async with anyio.create_task_group() as group:
            group.start_soon(crash_while_it_waits)
            with pytest.raises(ModelError) as caught:
                await _agent(settings, worker).send("hello")
    text = str(caught.value)
    assert text.startswith("the model client stopped (exit -9: ImportError: no module named x")
    assert "\x1b" not in text and "\x07" not in text


async def test_a_cancelled_step_ends_the_worker_and_removes_its_folder(worker):
    with ScriptedLLM([{"text": "late", "delay": 30}]) as llm:
        settings = ModelSettings(worker_model(), api_key="k", api_base=llm.anthropic_base)
        agent = _agent(settings, worker)
        worker.start()
        pid, tmp = worker.pid, worker._tmp
        assert tmp is not None and Path(tmp).is_dir()
        with anyio.move_on_after(1.5):
            await agent.send("hello")
    assert worker.pid is None and not Path(tmp).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not left running


def test_the_worker_inherits_no_credentials_from_the_environment(monkeypatch):
    for name, value in {
        "GITHUB_TOKEN": "ghp_secret", "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "OPENAI_API_KEY": "sk-other", "ANTHROPIC_API_KEY": "sk-ant-other",
        "HTTPS_PROXY": "http://proxy.corp.example:3128", "SSL_CERT_FILE": "/etc/ssl/certs/x.pem",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    worker = ModelWorker(worker_model())
    try:
        worker.start()
        assert worker.pid is not None
        environ = _environment_once_started(worker.pid).split(b"\0")
    finally:
        worker.close()
    names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
    assert not names & {
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
    }
    assert {"HTTPS_PROXY", "SSL_CERT_FILE"} <= names  # how the network is reached stays


def _environment_once_started(pid: int) -> bytes:
    """The worker's environment as the kernel holds it, read once its exec has finished.

    Popen returns when the child's exec has begun (its close-on-exec pipe closed, the old memory
    released), which can be before the kernel has laid out the new program's arguments and
    environment: /proc/PID/environ reads empty then, and /proc/PID/cmdline does not yet name the
    worker (measured: 2 reads in 30 empty on an idle machine). The worker's argument in its
    cmdline (never the parent's: a vfork child shares the parent's memory until its exec) and an
    environment there mean the exec has finished; a worker that never gets that far fails."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        started = WORKER_ARG.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        if started and environ:
            return environ
        time.sleep(0.005)
    raise AssertionError(f"the worker (pid {pid}) did not finish starting in 10 s")


def test_the_worker_never_starts_in_the_workspace(tmp_path, monkeypatch):
    """Loaders search their working folder (dotenv, .pth, python -m): the worker's is /."""
    monkeypatch.chdir(tmp_path)
    worker = ModelWorker(worker_model())
    try:
        worker.start()
        assert os.readlink(f"/proc/{worker.pid}/cwd") == "/"
    finally:
        worker.close()


@pytest.mark.parametrize("case", json.loads(VECTORS.read_text())["cases"], ids=lambda c: c["name"])
def test_an_answer_the_worker_could_forge_is_refused_or_reduced_to_its_fields(case):
    """The worker parses the network: what it sends back is checked for shape (vectors)."""
    raw = (
        case["line"].encode()
        if isinstance(case["line"], str)
        else json.dumps(case["line"]).encode()
    )
    if "refused" in case:
        with pytest.raises(ModelError, match=case["refused"]):
            _answer(raw, worker_model(), None)
    else:
        done = _answer(raw, worker_model(), None)
        assert done.message == case["message"]


@pytest.mark.skipif(landlock.abi_version() < 1, reason="the kernel has no Landlock")
def test_the_kernel_keeps_the_worker_from_writing_files_or_running_programs(tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    outside = tmp_path / "outside.txt"
    secret = tmp_path / "home" / ".ironcurtain" / "config.json"  # a user's file: keys
    secret.parent.mkdir(parents=True)
    secret.write_text('{"openaiApiKey": "sk-secret"}')
    probe = f"""
import os, socket, ssl, subprocess, sys
from appliance.agent.model_worker import confine_worker
print(confine_worker({str(private)!r}))
open({str(private / "ok.txt")!r}, "w").write("fine")
ssl.create_default_context()  # CA certificates and the resolver stay readable
socket.getaddrinfo("localhost", 80)
import litellm.litellm_core_utils.tokenizers  # the program's own files, imported after
import ctypes, resource
core = resource.getrlimit(resource.RLIMIT_CORE)
print("dumpable", ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), "core", core)  # 3: PR_GET_DUMPABLE
for attempt in (
    lambda: open({str(outside)!r}, "w"),
    lambda: subprocess.run(["/bin/true"]),
    lambda: open({str(secret)!r}).read(),
    lambda: open("/etc/../root/.bashrc").read(),
    lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),  # seccomp: TCP and netlink only
    lambda: os.unshare(os.CLONE_NEWUSER),
):
    try:
        attempt()
        print("ALLOWED")
    except (PermissionError, FileNotFoundError) as exc:
        print("refused" if isinstance(exc, PermissionError) else "missing")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    lines = done.stdout.split("\n")
    assert lines[0].startswith("confined"), done.stderr
    # It holds keys: no core file, and not readable through /proc by the user's other processes.
    assert lines.pop(1) == "dumpable 0 core (0, 0)", done.stdout
    assert lines[1:4] == ["refused", "refused", "refused"], done.stdout + done.stderr
    assert lines[4] in ("refused", "missing"), done.stdout  # never read
    if "seccomp" in lines[0]:
        assert lines[5:7] == ["refused", "refused"], done.stdout
    assert (private / "ok.txt").read_text() == "fine" and not outside.exists()
