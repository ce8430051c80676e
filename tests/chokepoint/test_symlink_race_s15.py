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
    return [r for r in map(json.loads, log.read_text().splitlines()) if "tool" in r]


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
            time.sleep(0.4 if number in (4, 6) else 0)  # the blockers busy; the moves judged
        answers = {}
        while len(answers) < len(calls):
            answer = json.loads(proxy.stdout.readline())
            answers[answer.get("id")] = answer["result"]
    finally:
        proxy.kill()
        proxy.wait(timeout=30)
    # the swap happened after the victim was judged (else the policy saw the new layout)
    (judged,) = [r for r in _audit(ic_home) if r["tool"] == victim[0]]
    if answers[5]["isError"] or answers[6]["isError"] or judged["decision"] != "allow":
        raise _Missed(f"moves {answers[5]}, {answers[6]}; victim judged {judged['decision']}")
    return answers[len(calls)], judged


class _Missed(Exception):
    """The race's window was not hit: the moves did not both run after the victim was judged."""


def _raced(layout, victim_of) -> tuple[dict, dict]:
    """The race run in fresh folders until its window is hit (three tries). A machine too busy
    to hit it skips, saying so: the server's refusals themselves are the deterministic vectors
    ``link-into-another-root-*`` and ``link-onto-env-file`` (tests/vectors/filesystem)."""
    missed = []
    for attempt in range(3):
        home = layout(attempt)
        try:
            return _swap_race(home, home / "sb", victim_of(home))
        except _Missed as exc:
            missed.append(str(exc)[:200])
    pytest.skip(f"the race window was not hit in 3 tries on this machine: {missed[-1]}")


@pytest.mark.timeout(240)
def test_a_folder_renamed_over_another_never_carries_a_sandbox_write_into_documents(
    tmp_path: Path,
) -> None:
    """Judged: ``S/a/p/pwn.txt``, a sandbox write (allowed). Run: ``S/a/p`` links to
    ``~/Documents``, and the server wrote ``~/Documents/pwn.txt``, a write the shipped policy asks
    a human for, with the audit saying ``structural-sandbox-allow``."""

    def layout(attempt: int) -> Path:
        home = tmp_path / f"home{attempt}"
        sandbox, documents = home / "sb", home / "Documents"
        (sandbox / "a" / "p").mkdir(parents=True)
        (sandbox / "z").mkdir()
        documents.mkdir()
        os.symlink(documents, sandbox / "z" / "p")
        return home

    def victim(home: Path) -> tuple[str, dict]:
        return ("write_file", {"path": str(home / "sb" / "a" / "p" / "pwn.txt"), "content": "x"})

    answer, judged = _raced(layout, victim)
    home = Path(judged["arguments"]["path"]).parents[3]
    assert not (home / "Documents" / "pwn.txt").exists(), answer
    assert answer["isError"], answer


@pytest.mark.timeout(240)
def test_a_folder_renamed_over_another_never_turns_a_judged_read_into_a_dotenv_read(
    tmp_path: Path,
) -> None:
    """Judged: ``S/a/x.txt``, a plain sandbox file (allowed). Run: ``S/a/x.txt`` links to
    ``S/.env``, which the policy denies whatever the rules say, and the server returned it."""

    def layout(attempt: int) -> Path:
        home = tmp_path / f"home{attempt}"
        sandbox = home / "sb"
        (sandbox / "a").mkdir(parents=True)
        (sandbox / "z").mkdir()
        (sandbox / "a" / "x.txt").write_text("plain\n")
        (sandbox / ".env").write_text("API_KEY=sk-SECRET-ENV-VALUE\n")
        os.symlink("../.env", sandbox / "z" / "x.txt")
        return home

    def victim(home: Path) -> tuple[str, dict]:
        return ("read_text_file", {"path": str(home / "sb" / "a" / "x.txt")})

    answer, _ = _raced(layout, victim)
    assert "SECRET-ENV-VALUE" not in json.dumps(answer), answer
    assert answer["isError"], answer
