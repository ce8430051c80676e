"""`policy check` decides exactly as the live chokepoint (issue 14, F14): one corpus goes through
the real `mcp-proxy` (real servers, real audit log) and through `policy check --batch`, with the
same home and sandbox; every (decision, rule) pair must be equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "appliance.cli"]


def _corpus(sandbox: Path, home: Path, ic_home: Path) -> list[tuple[str, str, dict]]:
    return [
        ("filesystem", "read_text_file", {"path": str(sandbox / "notes.md")}),
        ("filesystem", "read_text_file", {"path": [str(sandbox / "notes.md")]}),  # F14
        ("filesystem", "read_text_file", {"path": str(sandbox / "notes.md"), "head": "1"}),
        ("filesystem", "read_text_file", {"path": str(sandbox / "notes.md"), "extra": 1}),
        ("filesystem", "read_text_file", {}),
        ("filesystem", "read_text_file", {"path": "/etc/passwd"}),
        ("filesystem", "read_text_file", {"path": str(ic_home / "ca" / "mitmproxy-ca.pem")}),
        ("filesystem", "write_file", {"path": str(ic_home / "config.json"), "content": "{}"}),
        ("filesystem", "write_file", {"path": str(sandbox / ".env"), "content": "A=1"}),
        ("filesystem", "write_file", {"path": str(sandbox / "new.md"), "content": "x"}),
        ("filesystem", "list_directory", {"path": str(sandbox)}),
        ("filesystem", "move_file", {"source": "/etc/hostname", "destination": "x"}),
        ("filesystem", "no_such_tool", {}),
        ("filesystem", "read_multiple_files", {"paths": [str(sandbox / "notes.md"), "/etc/x"]}),
        ("fetch", "http_fetch", {"url": "docs.python.org/3/"}),
        ("fetch", "http_fetch", {"url": "https://docs.python.org/3/", "timeout": 500}),
        ("fetch", "http_fetch", {"url": "http://[::1]/"}),
        ("fetch", "web_search", {"query": "x"}),
        ("fetch", "web_search", {"query": 3}),
        ("git", "git_status", {"path": str(sandbox)}),
        ("git", "git_log", {"path": str(home / "elsewhere"), "maxCount": 1}),
        ("git", "git_push", {"path": str(sandbox), "remote": "https://github.com/a/b.git"}),
    ]


def test_policy_check_equals_the_live_chokepoint(tmp_path: Path) -> None:
    sandbox, home, ic_home = tmp_path / "sandbox", tmp_path / "home", tmp_path / "home" / ".ic"
    sandbox.mkdir()
    home.mkdir()
    (sandbox / "notes.md").write_text("n\n")
    ic_home.mkdir()  # nobody answers escalations here: they time out (denied) after 5 s
    (ic_home / "config.json").write_text('{"escalationTimeoutSeconds": 5}')
    env = {**os.environ, "HOME": str(home), "IRONCURTAIN_HOME": str(ic_home)}
    corpus = _corpus(sandbox, home, ic_home)
    messages = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}},
    ] + [
        {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
         "params": {"name": f"{server}__{tool}", "arguments": arguments}}
        for i, (server, tool, arguments) in enumerate(corpus)
    ]  # fmt: skip
    live = subprocess.run(
        [*CLI, "mcp-proxy", "--sandbox", str(sandbox)],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    (log,) = (ic_home / "sessions").glob("*/audit.jsonl")
    records = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]
    assert len(records) == len(corpus)
    batch = "\n".join(
        json.dumps({"id": i, "server": s, "tool": t, "arguments": a})
        for i, (s, t, a) in enumerate(corpus)
    )
    offline = subprocess.run(
        [*CLI, "policy", "check", "--batch", "-", "--sandbox", str(sandbox)],
        input=batch, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    answers = {a["id"]: a for a in map(json.loads, offline.stdout.splitlines())}
    # Records are written as calls finish, possibly out of order: match them by arguments.
    by_call = {}
    for record in records:
        by_call[json.dumps([record["server"], record["tool"], record["arguments"]])] = record
    mismatches = []
    for i, (server, tool, arguments) in enumerate(corpus):
        record = by_call[json.dumps([server, tool, arguments])]
        want = (record["decision"], record["rule"])
        got = (answers[i]["decision"], answers[i]["rule"])
        if want != got:
            mismatches.append((server, tool, arguments, want, got))
    assert not mismatches, mismatches
    rules = {answers[i]["rule"] for i in answers}
    assert {"invalid-arguments", "structural-protected-path", "structural-sandbox-allow"} <= rules
