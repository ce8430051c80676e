"""The host killed (SIGKILL) while a real server works on a call that went ahead: the log holds
the call's intent, ``audit verify`` names it as sent with its outcome unknown, and a resumed
session says so on the terminal and in the log, without running it again.

The server is the shipped fetch server (over stdio, ``--allow-private-addresses``), fetching from
a loopback server that receives the request (the effect: the remote end has it) and never
answers; the host is a real process (``crash_host.py``) with the shipped policy (a named host
escalates; the host's channel approves)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.chokepoint.audit import verify_file
from appliance.config.paths import AppPaths
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session
from tests.servers.loopback import tarpit

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "appliance.cli"]
HOST = Path(__file__).with_name("crash_host.py")
ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "IRONCURTAIN_HOME": str(home), "PYTHONPATH": str(ROOT)}


def _kill_host_while_fetching(home: Path, sandbox: Path, session_id: str, url: str,
                              received: threading.Event) -> None:  # fmt: skip
    host = subprocess.Popen(
        [sys.executable, str(HOST), session_id, str(sandbox), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(home),
        cwd=str(ROOT),
        start_new_session=True,  # its servers too: the group is cleaned up below
    )
    try:
        assert host.stdout.readline().strip() == b"calling"
        assert received.wait(60), "the fetch server never reached the loopback server"
        host.send_signal(signal.SIGKILL)  # the crash: no close, no end record, no cleanup
        assert host.wait(10) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.pid, signal.SIGKILL)  # the orphaned servers of the killed host
        host.wait(10)


async def test_host_killed_while_a_server_works_leaves_the_intent_and_resume_reports_it(
    tmp_path: Path, capsys
):
    home, sandbox, session_id = tmp_path / "home", tmp_path / "sandbox", "crash-1"
    with tarpit("/x") as site:
        url = site.url
        _kill_host_while_fetching(home, sandbox, session_id, url, site.received)
        log = home / "sessions" / session_id / "audit.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()]
        # the intent is in the log; the call's record never came
        (intent,) = [r for r in records if r["type"] == "intent"]
        assert (intent["server"], intent["tool"]) == ("fetch", "http_fetch")
        assert intent["decision"] == "escalate" and intent["escalation"]["outcome"] == "approved"
        assert "arguments" not in intent and url not in json.dumps(intent)
        assert not [r for r in records if r["type"] == "call"]
        result = verify_file(log)
        assert result.ok and [d.seq for d in result.dangling] == [intent["seq"]]

        # audit verify (the CLI, this installation's key): cut, and the call named
        done = subprocess.run(
            [*CLI, "audit", "verify", str(log)], capture_output=True, text=True, env=_env(home)
        )
        assert done.returncode == 3, done.stdout + done.stderr
        assert f"record {intent['seq']} " in done.stdout
        assert "fetch/http_fetch (escalate by " in done.stdout
        assert "may have had its effect: outcome unknown" in done.stdout
        shown = subprocess.run(
            [*CLI, "audit", "show", str(log)], capture_output=True, text=True, env=_env(home)
        )
        assert "outcome unknown: sent to its server" in shown.stdout
        assert "1 sent with outcome unknown" in shown.stdout

        # resume: said on the terminal, recorded once, not run again
        paths = AppPaths(home=home, cache=home / "cache")
        options = SessionOptions(task="resume", sandbox=sandbox, session_id=session_id)
        capsys.readouterr()
        async with open_session(Config(), paths, options):
            pass
        said = capsys.readouterr().err
        assert f"session {session_id} stopped while a call was at its server" in said
        assert "fetch/http_fetch" in said and "not run again" in said
        async with open_session(Config(), paths, options):  # a second resume: said once only
            pass
        assert "stopped while a call was at its server" not in capsys.readouterr().err
        assert site.connections == 1  # the loopback server saw the request once, never again
    records = [json.loads(line) for line in log.read_text().splitlines()]
    (report,) = [r for r in records if r["type"] == "outcome-unknown"]
    assert report["intent"] == intent["seq"] and report["callDigest"] == intent["callDigest"]
    result = verify_file(log)
    assert result.ok and [(d.seq, d.reported) for d in result.dangling] == [
        (intent["seq"], report["seq"])
    ]
    assert any("reported when the session resumed" in note for note in result.notes)
