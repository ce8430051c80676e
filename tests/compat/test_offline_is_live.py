"""``ironcurtain policy check`` answers what the live chokepoint would: both build the engine's
context with ``appliance.chokepoint.policy_context`` (protected paths, domain gates, sandbox)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from appliance.config.paths import app_paths
from appliance.config.sections import ChokepointSettings
from appliance.config.settings import load_config
from appliance.session.core import eval_context
from policy.engine import evaluate
from policy.loader import default_policy_dir, load_policy
from policy.models import ToolCall

ROOT = Path(__file__).resolve().parents[2]


def test_policy_check_and_the_session_context_decide_alike(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    (sandbox / "repo").mkdir(parents=True)
    home = Path(os.environ["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text("{}")
    calls = [
        ("filesystem", "read_text_file", {"path": str(home / "config.json")}),
        ("filesystem", "write_file", {"path": str(sandbox / "a.txt"), "content": "x"}),
        ("filesystem", "read_text_file", {"path": "/etc/hostname"}),
        ("filesystem", "list_allowed_directories", {}),
        ("git", "git_commit", {"path": str(sandbox / "repo"), "message": "m"}),
        ("fetch", "http_fetch", {"url": "http://169.254.169.254/latest"}),
    ]
    lines = "".join(
        json.dumps({"server": s, "tool": t, "arguments": a}) + "\n" for s, t, a in calls
    )
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "policy", "check", "--batch", "-",
         "--sandbox", str(sandbox)],
        input=lines, capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    offline = [json.loads(line) for line in done.stdout.splitlines()]
    context = eval_context(app_paths(), sandbox)
    policy = load_policy(default_policy_dir())
    live = [evaluate(ToolCall(server=s, tool=t, arguments=a), policy, context) for s, t, a in calls]
    assert [(o["decision"], o["rule"]) for o in offline] == [(d.decision, d.rule) for d in live]
    assert offline[0]["rule"] == "structural-protected-path"
    assert offline[3]["rule"] == "structural-introspection-allow"


def test_the_sandbox_history_setting_reaches_policy_check_and_the_session(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    (sandbox / "repo").mkdir(parents=True)
    home = Path(os.environ["IRONCURTAIN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    call = {"path": str(sandbox / "repo"), "message": "m"}
    for setting in ("escalate", "allow"):
        (home / "config.json").write_text(json.dumps({"sandboxHistory": setting}))
        done = subprocess.run(
            [sys.executable, "-m", "appliance.cli", "policy", "check", "git", "git_commit",
             json.dumps(call), "--sandbox", str(sandbox)],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        offline = json.loads(done.stdout)
        config = load_config(app_paths(), environ={})
        context = eval_context(app_paths(), sandbox, ChokepointSettings.of(config))
        policy = load_policy(default_policy_dir())
        live = evaluate(ToolCall(server="git", tool="git_commit", arguments=call), policy, context)
        assert (offline["decision"], offline["rule"]) == (live.decision, live.rule)
        assert context.sandbox_history == setting
