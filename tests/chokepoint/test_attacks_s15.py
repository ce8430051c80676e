"""Attack round 15 (filesystem server behind the real chokepoint): the policy judges a path, the
server must act on the very place judged, or refuse.

Driven through ``mcp-proxy`` with real, confined servers and the shipped policy."""

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


@pytest.mark.timeout(90)
def test_a_folder_renamed_over_another_never_carries_a_sandbox_write_into_documents(
    tmp_path: Path,
) -> None:
    """The policy judged ``S/a/p/pwn.txt`` (a real folder then: a sandbox write, allowed); two
    moves queued before it behind busy workers rename ``S/z`` (whose ``p`` links to ``~/Documents``)
    over ``S/a``. The server then wrote ``~/Documents/pwn.txt``, a write the shipped policy asks a
    human for, with the audit saying ``structural-sandbox-allow``."""
    home, ic_home = tmp_path / "home", tmp_path / "home" / ".ic"
    sandbox, documents = home / "sb", home / "Documents"
    (sandbox / "a" / "p").mkdir(parents=True)
    (sandbox / "z").mkdir()
    documents.mkdir()
    os.symlink(documents, sandbox / "z" / "p")
    deep = sandbox / "deep" / "/".join(["d"] * 60)
    deep.mkdir(parents=True)  # a tree the busy searches walk slowly
    ic_home.mkdir()
    (ic_home / "config.json").write_text('{"escalationTimeoutSeconds": 5}')
    env = {**os.environ, "HOME": str(home), "IRONCURTAIN_HOME": str(ic_home)}
    slow = {"path": str(sandbox / "deep"), "pattern": "/".join(["**"] * 300 + ["zz"])}
    calls = [("search_files", slow)] * 4 + [
        ("move_file", {"source": str(sandbox / "a"), "destination": str(sandbox / "b")}),
        ("move_file", {"source": str(sandbox / "z"), "destination": str(sandbox / "a")}),
        ("write_file", {"path": str(sandbox / "a" / "p" / "pwn.txt"), "content": "raced"}),
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
            send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
                )
                + "\n"
            )
            time.sleep(0.4 if number in (4, 6) else 0)  # the blockers busy; the moves judged
        answers = {}
        while len(answers) < len(calls):
            answer = json.loads(proxy.stdout.readline())
            answers[answer.get("id")] = answer["result"]
    finally:
        proxy.kill()
        proxy.wait(timeout=30)
    write = answers[len(calls)]
    assert not (documents / "pwn.txt").exists(), write
    assert write["isError"], write
    assert not answers[5]["isError"] and not answers[6]["isError"], answers  # the swap happened
    # ... after the write was judged (else the policy saw ~/Documents and asked, the race missed)
    (judged,) = [r for r in _audit(ic_home) if r["tool"] == "write_file"]
    assert judged["decision"] == "allow", judged
