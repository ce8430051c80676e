"""``ironcurtain policy ...`` as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", "policy", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def test_check_prints_exactly_decision_rule_reason(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    args = json.dumps({"path": str(sandbox / "a.txt"), "content": "x"})
    done = cli("check", "filesystem", "write_file", args, "--sandbox", str(sandbox))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result) == ["decision", "rule", "reason"]
    assert (result["decision"], result["rule"]) == ("allow", "structural-sandbox-allow")


def test_check_protects_the_appliance_home_from_the_environment() -> None:
    config = Path(os.environ["IRONCURTAIN_HOME"]) / "config.json"
    done = cli("check", "filesystem", "read_text_file", json.dumps({"path": str(config)}))
    assert json.loads(done.stdout)["rule"] == "structural-protected-path"


def test_malformed_input_exits_2_with_a_message() -> None:
    done = cli("check", "filesystem", "read_text_file", "{not json")
    assert done.returncode == 2 and "not valid JSON" in done.stderr and done.stdout == ""
    done = cli("check", "filesystem", "read_text_file", "[1]")
    assert done.returncode == 2 and "JSON object" in done.stderr
    done = cli("check", "filesystem")
    assert done.returncode == 2 and "SERVER TOOL" in done.stderr


def test_a_broken_policy_folder_exits_2_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "compiled-policy.json").write_text('{"rules": "nope"}')
    done = cli("check", "fetch", "web_search", '{"query": "x"}', "--policy-dir", str(tmp_path))
    assert done.returncode == 2
    assert "compiled-policy.json" in done.stderr and "$.rules" in done.stderr


def test_batch_answers_every_line_in_order_and_marks_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"server": "fetch", "tool": "web_search", "arguments": {"query": "x"}}),
        "{broken",
        json.dumps(
            {"server": "fetch", "tool": "http_fetch", "arguments": {"url": "http://[::1]/"}}
        ),
        json.dumps({"server": 1, "tool": "x"}),
        json.dumps({"server": "fetch", "tool": "web_search", "arguments": {}, "extra": 1}),
        json.dumps({"server": "nope", "tool": "nope", "arguments": {}}),
    ]
    batch = tmp_path / "calls.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    done = cli("check", "--batch", str(batch))
    assert done.returncode == 2
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["rule"] == "allow-web-search"
    assert out[1]["error"].startswith("line 2: not valid JSON")
    assert out[2]["rule"] == "default-deny"
    assert "line 4" in out[3]["error"] and "line 5" in out[4]["error"]
    assert out[5]["rule"] == "structural-unknown-tool"
    good = cli("check", "--batch", "-", stdin=lines[0] + "\n")
    assert good.returncode == 0 and json.loads(good.stdout)["decision"] == "allow"


def test_user_compiled_policy_wins_over_the_shipped_one(tmp_path: Path) -> None:
    generated = Path(os.environ["IRONCURTAIN_HOME"]) / "generated"
    generated.mkdir(parents=True)
    shipped = ROOT / "policy" / "generated"
    for name in ("tool-annotations.json", "dynamic-lists.json"):
        (generated / name).write_text((shipped / name).read_text())
    rule = {"name": "search-needs-approval", "if": {"tool": ["web_search"]}, "then": "escalate"}
    rule["reason"] = "ask first"
    (generated / "compiled-policy.json").write_text(json.dumps({"rules": [rule]}))
    done = cli("check", "fetch", "web_search", '{"query": "x"}')
    assert json.loads(done.stdout)["rule"] == "search-needs-approval"


def test_show_and_test() -> None:
    shown = cli("show")
    assert shown.returncode == 0
    assert "escalate-git-remote" in shown.stdout and "default-deny" in shown.stdout
    tested = cli("test")
    assert tested.returncode == 0 and "scenarios pass" in tested.stdout
