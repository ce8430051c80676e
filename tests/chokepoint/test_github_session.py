"""The GitHub server behind the real chokepoint: the token reaches only the github server's
process, writes are escalated to the human, and the token appears nowhere in what the agent
sees (results, errors) or in the session's records (audit log, escalations)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from chokepoint_helpers import ScriptedHuman, session_for

from appliance.chokepoint.escalation.models import Verdict
from appliance.config.settings import Config
from appliance.session import core
from tests.servers.github_fake import TOKEN, fake_github

pytestmark = pytest.mark.anyio
REPO = {"owner": "alice", "repo": "tool"}


def test_only_the_github_server_gets_the_token(tmp_path: Path) -> None:
    config = Config(github_token=TOKEN, github_host="ghe.example.com")
    specs = {spec.name: spec for spec in core.server_specs(config, tmp_path)}
    assert specs["github"].env["GITHUB_PERSONAL_ACCESS_TOKEN"] == TOKEN
    assert specs["github"].env["GITHUB_HOST"] == "ghe.example.com"
    for name in ("filesystem", "git", "fetch"):
        assert TOKEN not in json.dumps(specs[name].env) and TOKEN not in specs[name].args


async def test_reads_pass_writes_escalate_and_the_token_never_leaks(home, tmp_path, monkeypatch):
    real_specs = core.server_specs
    with fake_github() as fake:

        def specs(config, sandbox):  # point the github server at the scripted API
            out = []
            for spec in real_specs(config, sandbox):
                if spec.name == "github":
                    env = {**spec.env, "IRONCURTAIN_GITHUB_API_URL": fake.url}
                    spec = dataclasses.replace(spec, args=("--allow-private-addresses",), env=env)
                out.append(spec)
            return out

        monkeypatch.setattr(core, "server_specs", specs)
        human = ScriptedHuman(Verdict(approved=True, by="user"), Verdict(approved=False, by="user"))
        config = Config(escalation_timeout_seconds=5, github_token=TOKEN)
        async with session_for(home, tmp_path / "sandbox", channel=human, config=config) as s:
            me = await s.chokepoint.call("github", "get_me", {})
            branch = await s.chokepoint.call(
                "github", "create_branch", {**REPO, "branch": "fix", "from_branch": "main"}
            )
            merge = await s.chokepoint.call(
                "github", "merge_pull_request", {**REPO, "pullNumber": 4}
            )
            hidden = await s.chokepoint.call(
                "github", "list_tags", {"owner": "private-org", "repo": "x"}
            )
            records = list(s.dir.rglob("*"))
    assert me.ok and me.decision.rule == "allow-github-read" and '"alice"' in me.text
    assert branch.ok and branch.escalation["by"] == "user"
    assert not merge.ok and "DENIED" in merge.text
    assert [a.tool for a in human.asked] == ["create_branch", "merge_pull_request"]
    assert not any(seen.path.endswith("/merge") for seen in fake.seen)  # denied: never sent
    assert not hidden.ok and "404" in hidden.text
    for outcome in (me, branch, merge, hidden):
        assert TOKEN not in outcome.text and TOKEN not in json.dumps(outcome.structured)
    written = [p for p in records if p.is_file()]
    assert any(p.name == "audit.jsonl" for p in written)
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path
