"""The attack report's git reproducers (``tests/vectors/git/reproducers.json``), end to end.

Each case is Code Mode agent code run by the real CLI (``ironcurtain exec FILE --sandbox S``):
the real WebAssembly guest, the shipped policy, the real chokepoint, the real git server over
stdio and real git. A thread plays the human, answering every escalation request file as the
case says, and records what it was shown. A loopback listener stands in for an attacker's host.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_git_support import git

from wasm_guest.build import DEFAULT_OUT, ensure_built

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors" / "git" / "reproducers.json"
DATA = json.loads(VECTORS.read_text())
CASES = DATA["cases"]


class _Listener:
    """Counts TCP connections on a loopback port."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()


class _Approver:
    """Answers every escalation request of the session with ``decision``; keeps what it saw."""

    def __init__(self, home: Path, decision: str) -> None:
        self.home, self.decision = home, decision
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        answered: set[Path] = set()
        while not self.stop.is_set():
            for request in self.home.glob("sessions/*/escalations/request-*.json"):
                if request in answered:
                    continue
                try:
                    data = json.loads(request.read_text())
                except (OSError, ValueError):
                    continue  # being written, or already removed
                answered.add(request)
                self.seen.append(data)
                answer = {"id": data["id"], "decision": self.decision}
                answer["callDigest"] = data["callDigest"]
                response = request.with_name(request.name.replace("request-", "response-"))
                temp = response.with_suffix(".tmp")
                temp.write_text(json.dumps(answer))
                os.rename(temp, response)
            time.sleep(0.05)


def _outside(root: Path) -> dict[str, str]:
    out = root / "outside" / "private-repo"
    out.mkdir(parents=True)
    git(out, "init", "-q")
    (out / "secret.txt").write_text("SECRET-CONTENT-42\n")
    git(out, "add", ".")
    git(out, "commit", "-qm", "private work")
    git(out, "remote", "add", "origin", "https://alice:ghp_OUTSIDE_TOKEN@github.com/a/b")
    creds = root / "outside" / ".git-credentials"
    creds.write_text("https://alice:ghp_PRIVATE_TOKEN_123@github.com\n")
    blob = git(out, "rev-parse", "HEAD:secret.txt").strip()
    return {"@OUT@": str(out), "@CREDS@": str(creds), "@BLOB@": blob}


def _setup(names: list[str], sandbox: Path, fill: dict[str, str]) -> None:
    secret = "OPENAI_API_KEY=sk-proj-TOPSECRET0123456789abcdef\n"
    if "env_file" in names:
        (sandbox / "proj").mkdir()
        (sandbox / "proj" / ".env").write_text(secret)
        (sandbox / "proj" / "readme.md").write_text("a project\n")
    if "symlinked_bare" in names:
        # As a cloned tree could carry it: a bare-repository-shaped folder whose parts link out.
        outside_git = Path(fill["@OUT@"]) / ".git"
        bare = sandbox / "cl" / "b"
        bare.mkdir(parents=True)
        (bare / "HEAD").write_text("ref: refs/heads/master\n")
        for name in ("objects", "refs", "config"):
            (bare / name).symlink_to(outside_git / name)
        only_config = sandbox / "cl" / "c"
        (only_config / "objects").mkdir(parents=True)
        (only_config / "refs").mkdir()
        (only_config / "HEAD").write_text("ref: refs/heads/master\n")
        (only_config / "config").symlink_to(outside_git / "config")
    if "tracked_env" in names:
        tracked = sandbox / "tracked"
        tracked.mkdir()
        git(tracked, "init", "-q")
        (tracked / "a.txt").write_text("a\n")
        git(tracked, "add", ".")
        git(tracked, "commit", "-qm", "first")
        (tracked / ".env").write_text(secret)
        (tracked / "cfg").mkdir()
        (tracked / "cfg" / ".env.local").write_text(secret)
        git(tracked, "add", ".")
        git(tracked, "commit", "-qm", "add secrets")
        fill["@ENVBLOB@"] = git(tracked, "rev-parse", "HEAD:.env").strip()


def _fill(text: str, fill: dict[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace(key, value)
    return text


def _refs(path: str) -> str:
    return git(Path(path), "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reproducer(case: dict[str, Any], tmp_path: Path) -> None:
    home, sandbox = tmp_path / "home", tmp_path / "sb"
    home.mkdir()
    sandbox.mkdir()
    listener = _Listener()
    fill = {**_outside(tmp_path), "@PROOF@": str(tmp_path / "proof"), "@PORT@": str(listener.port)}
    _setup(case["setup"], sandbox, fill)
    before = _refs(fill["@OUT@"])
    snippet = tmp_path / "agent.py"
    snippet.write_text(_fill("\n".join(DATA["prelude"] + case["code"]) + "\n", fill))
    env = {**os.environ, "HOME": str(home), "IRONCURTAIN_HOME": str(home / ".ic")}
    env |= {"IRONCURTAIN_CACHE": str(DEFAULT_OUT / "test-cache")}
    env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    ensure_built()
    approver = _Approver(home / ".ic", case["approver"])
    started = time.monotonic()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance.cli",
                "exec",
                str(snippet),
                "--sandbox",
                str(sandbox),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        approver.stop.set()
        listener.stop.set()
    elapsed = time.monotonic() - started
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out = result.get("stdout", "")
    assert result.get("error") in (None, ""), result
    _check(case["expect"], out, fill, approver, listener, before, elapsed)


def _check(expect, out, fill, approver, listener, before, elapsed) -> None:
    for name in expect.get("absent_files", []):
        assert not Path(_fill(name, fill)).exists(), f"{name} was created: a command ran"
    for text in expect.get("stdout_has", []):
        assert _fill(text, fill) in out, f"missing {text!r} in:\n{out}"
    for text in expect.get("stdout_lacks", []):
        assert _fill(text, fill) not in out, f"{text!r} leaked:\n{out}"
    tools = {request.get("tool") for request in approver.seen}
    for tool in expect.get("escalated_tools", []):
        assert tool in tools, f"{tool} was never escalated: {tools}"
    if "escalation_rule" in expect:
        rules = {request.get("rule") or request.get("decisionRule") for request in approver.seen}
        reasons = " ".join(str(request.get("reason")) for request in approver.seen)
        assert expect["escalation_rule"] in rules or "git directory" in reasons, approver.seen
    shown = json.dumps([request.get("arguments") for request in approver.seen])
    for text in expect.get("escalation_args_have", []):
        assert _fill(text, fill) in shown, f"the approver was not shown {text!r}: {shown}"
    if expect.get("no_connections"):
        assert listener.hits == 0, "git connected to the loopback listener"
    if expect.get("outside_refs_unchanged"):
        assert _refs(fill["@OUT@"]) == before, "refs changed in the outside repository"
    if "max_seconds" in expect:
        assert elapsed < expect["max_seconds"]


def test_f9_policy_check_escalates_a_bare_repository_config(tmp_path: Path) -> None:
    # F9 as the report ran it: `policy check` (the shipped policy, the real resolver and probe).
    sandbox = tmp_path / "sb"
    sandbox.mkdir()
    git(sandbox, "init", "-q", "--bare", "b")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "IRONCURTAIN_HOME": str(tmp_path / "ic")}
    arguments = json.dumps({"path": str(sandbox / "b" / "config"), "content": "x"})
    command = [sys.executable, "-m", "appliance.cli", "policy", "check", "filesystem"]
    done = subprocess.run(
        [*command, "write_file", arguments, "--sandbox", str(sandbox)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    decision = json.loads(done.stdout.strip().splitlines()[-1])
    assert decision["decision"] == "escalate", decision
    assert decision["rule"] == "structural-git-internals-escalate", decision
    assert "git directory" in decision["reason"]
