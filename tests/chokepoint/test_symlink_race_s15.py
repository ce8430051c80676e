"""Attack round 15 (filesystem server behind the real chokepoint): the policy judges a path, the
server must act on the very place judged, or refuse.

Driven through ``mcp-proxy`` with real, confined servers and the shipped policy. The race: four
slow searches keep the server's workers busy; two moves rename ``S/z`` over ``S/a`` and are
judged at once (plain sandbox folders); the victim call is judged while ``S/a`` is still the
old folder, and runs after the moves, when ``S/a`` holds what ``S/z`` held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "appliance.cli"]
INIT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"},
}


def _audit(ic_home: Path) -> list[dict]:
    (log,) = (ic_home / "sessions").glob("*/audit.jsonl")
    return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]


def _swap_race(home: Path, sandbox: Path, victim: tuple[str, dict]) -> tuple[dict, dict]:
    """Run the race (S/a and S/z already laid out); the victim's answer and its audit record."""
    ic_home = home / ".ic"
    deep = sandbox / "deep" / "/".join(["d"] * 60)
    deep.mkdir(parents=True)  # a tree the busy searches walk slowly
    ic_home.mkdir()
    (ic_home / "config.json").write_text('{"escalationTimeoutSeconds": 5}')
    env = {**os.environ, "HOME": str(home), "IRONCURTAIN_HOME": str(ic_home)}
    slow = {"path": str(sandbox / "deep"), "pattern": "/".join(["**"] * 300 + ["zz"])}
    calls = [("search_files", slow)] * 4 + [
        ("move_file", {"source": str(sandbox / "a"), "destination": str(sandbox / "b")}),
        ("move_file", {"source": str(sandbox / "z"), "destination": str(sandbox / "a")}),
        victim,
    ]
    proxy = subprocess.Popen(
        [*CLI, "mcp-proxy", "--sandbox", str(sandbox)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env, text=True, bufsize=1,
    )  # fmt: skip
    try:
        assert proxy.stdin is not None and proxy.stdout is not None
        send = proxy.stdin.write
        send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}) + "\n")
        proxy.stdout.readline()
        for number, (tool, arguments) in enumerate(calls, start=1):
            params = {"name": f"filesystem__{tool}", "arguments": arguments}
            message = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
            send(json.dumps(message) + "\n")
            # the blockers busy; the moves sent in order (an MCP client's calls in flight at
            # once reach the gate's workers in any order), then judged
            time.sleep({4: 0.4, 5: 0.1, 6: 0.4}.get(number, 0))
        answers = {}
        while len(answers) < len(calls):
            answer = json.loads(proxy.stdout.readline())
            if "id" in answer:  # not a notification ("waiting for approval of …")
                answers[answer["id"]] = answer["result"]
    finally:
        proxy.kill()
        proxy.wait(timeout=30)
    assert not answers[5]["isError"] and not answers[6]["isError"], (answers[5], answers[6])
    # (the swap happened)
    (judged,) = [r for r in _audit(ic_home) if r["tool"] == victim[0]]
    return answers[len(calls)], judged


@pytest.mark.timeout(90)
def test_a_folder_renamed_over_another_never_carries_a_sandbox_write_into_documents(
    tmp_path: Path,
) -> None:
    """Judged: ``S/a/p/pwn.txt``, a sandbox write (allowed). Run: ``S/a/p`` links to
    ``~/Documents``, and the server wrote ``~/Documents/pwn.txt``, a write the shipped policy asks
    a human for, with the audit saying ``structural-sandbox-allow``. Now the write is judged on
    the layout it runs on (a write through a link into Documents: asked, unanswered, refused),
    and the server refuses a link from one allowed folder into another anyway."""
    home = tmp_path / "home"
    sandbox, documents = home / "sb", home / "Documents"
    (sandbox / "a" / "p").mkdir(parents=True)
    (sandbox / "z").mkdir()
    documents.mkdir()
    os.symlink(documents, sandbox / "z" / "p")
    victim = ("write_file", {"path": str(sandbox / "a" / "p" / "pwn.txt"), "content": "raced"})
    answer, judged = _swap_race(home, sandbox, victim)
    assert not (documents / "pwn.txt").exists(), answer
    assert answer["isError"], answer
    assert judged["decision"] != "allow", judged


@pytest.mark.timeout(90)
def test_a_folder_renamed_over_another_never_turns_a_judged_read_into_a_dotenv_read(
    tmp_path: Path,
) -> None:
    """Judged: ``S/a/x.txt``, a plain sandbox file (allowed). Run: ``S/a/x.txt`` links to
    ``S/.env``, which the policy denies whatever the rules say, and the server returned it."""
    home = tmp_path / "home"
    sandbox = home / "sb"
    (sandbox / "a").mkdir(parents=True)
    (sandbox / "z").mkdir()
    (sandbox / "a" / "x.txt").write_text("plain\n")
    (sandbox / ".env").write_text("API_KEY=sk-SECRET-ENV-VALUE\n")
    os.symlink("../.env", sandbox / "z" / "x.txt")
    answer, judged = _swap_race(
        home, sandbox, ("read_text_file", {"path": str(sandbox / "a" / "x.txt")})
    )
    assert "SECRET-ENV-VALUE" not in json.dumps(answer), answer
    assert answer["isError"], answer
    assert judged["decision"] == "deny", judged  # judged where it leads: a .env file


@pytest.mark.timeout(90)
def test_a_folder_renamed_over_another_never_carries_a_write_into_git_metadata(
    tmp_path: Path,
) -> None:
    """Inside one folder the server cannot tell: ``S/a/p/config`` judged a plain sandbox write
    (allowed), run after ``S/a/p`` became a link to ``S/repo/.git``, wrote the repository's
    config (a write there is asked: git reads its config to decide what it runs). A call that
    changes the file system is judged and run in one turn, no other path call between: the write
    waits for the moves, is judged where it leads, asked, unanswered, refused."""
    home = tmp_path / "home"
    sandbox = home / "sb"
    (sandbox / "a" / "p").mkdir(parents=True)
    (sandbox / "z").mkdir()
    git = sandbox / "repo" / ".git"
    for folder in ("objects", "refs"):
        (git / folder).mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    os.symlink("../repo/.git", sandbox / "z" / "p")
    config = "[core]\n\trepositoryformatversion = 0\n"
    victim = ("write_file", {"path": str(sandbox / "a" / "p" / "config"), "content": config})
    answer, judged = _swap_race(home, sandbox, victim)
    assert not (git / "config").exists(), answer
    assert judged["rule"] == "structural-git-internals-escalate", judged
