"""Real third-party MCP servers from the registries, declared in ``config.json`` as a user would
and judged by the chokepoint with hand-written annotation files (tests/declared/data/third_party):

- ``@modelcontextprotocol/server-everything`` (npm): declared roles (a number, links in text),
  its own credential, progress during a call, image and blob results, unsolicited logging and
  resource-update notifications, a tool left unannotated;
- ``mcp-server-time`` (PyPI): time zones as identifiers checked against a list;
- the reference ``mcp-server-git`` (PyPI) declared as ``git`` in place of ours: the shipped
  annotations do not describe its arguments (refused), annotated it meets the shipped rules.

Installs happen once per run (third_party.py); each test here takes 2-8 s on a loaded machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.config.settings import load_config
from appliance.session.core import SessionOptions, open_session
from tests.declared.third_party import Refuse, cache_dir, npm_install, policy_with, pypi_install

TOKEN = "everything-only-3f9c1d7e"
VECTORS = Path(__file__).parents[1] / "vectors" / "declared" / "reference_git.json"


@pytest.fixture(scope="session")
def npm_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = cache_dir("IRONCURTAIN_TEST_NPM_CACHE", tmp_path_factory, "npm")
    return npm_install(cache, ("mcp-server-everything",))


@pytest.fixture(scope="session")
def pypi_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = cache_dir("IRONCURTAIN_TEST_PYPI_CACHE", tmp_path_factory, "pypi") / "venv"
    return pypi_install(venv, ("mcp-server-time", "mcp-server-git"))


def declare(servers: dict) -> None:
    """``mcpServers`` in the test's config.json, as a user writes it."""
    config = app_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"mcpServers": servers}))
    config.chmod(0o600)


async def calls(sandbox: Path, policy: Path | None, todo: list[tuple[str, str, dict]]):
    sandbox.mkdir(exist_ok=True)
    options = SessionOptions(task="t", sandbox=sandbox, policy_dir=policy)
    async with open_session(load_config(), app_paths(), options) as session:
        refuse = Refuse()
        session.chokepoint.escalation = refuse
        found = [await session.chokepoint.call(*call) for call in todo]
        return found, refuse, session.audit_path


def test_server_everything(npm_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-host-only-0123456789")
    declare({"everything": {"command": str(npm_bin / "mcp-server-everything"),
                            "env": {"EVERYTHING_TOKEN": TOKEN}}})  # fmt: skip
    policy = policy_with(tmp_path / "policy", "everything")
    todo = [
        ("everything", "echo", {"message": "see https://example.org/a"}),
        ("everything", "echo", {"message": "see https://evil.example.net/a"}),
        ("everything", "get-sum", {"a": 2, "b": 3}),
        ("everything", "get-sum", {"a": 2, "b": 300}),
        ("everything", "get-env", {}),
        ("everything", "toggle-simulated-logging", {}),
        ("everything", "toggle-subscriber-updates", {}),
        ("everything", "trigger-long-running-operation", {"duration": 1, "steps": 3}),
        ("everything", "get-tiny-image", {}),
        ("everything", "get-resource-reference", {"resourceType": "Text", "resourceId": 2}),
        ("everything", "get-resource-links", {"count": 1}),
        ("everything", "get-sum", {"a": 40, "b": 2}),
    ]
    found, refuse, audit = anyio.run(calls, tmp_path / "sb", policy, todo)
    (link, evil, small, big, env, logging_on, updates_on, progress, image, text, unannotated,
     after) = found  # fmt: skip
    assert link.ok and link.decision.rule == "allow-links-to-example-org"
    assert not evil.ok and evil.decision.rule == "default-deny" and "evil" in evil.text
    assert small.ok and "5" in small.text and small.decision.rule == "allow-sums-up-to-100"
    assert not big.ok and big.decision.rule == "escalate-sums-above-100"
    assert [r.rule for r in refuse.asked] == ["escalate-sums-above-100"]
    # its own credential reached it (the server echoes its environment, and the value comes
    # back redacted: a server's own secrets never travel on to the agent), and nothing of the
    # host's environment did
    assert env.ok and TOKEN not in env.text and "sk-ant-host-only" not in env.text
    assert '"EVERYTHING_TOKEN": "[REDACTED:server-credential]"' in env.text, env.text
    assert TOKEN not in audit.read_text()  # redacted from the audit log
    # notifications it sends on its own (logging, resource updates, progress) break nothing
    assert logging_on.ok and updates_on.ok and progress.ok, progress.text
    assert after.ok and "42" in after.text
    # binary content is described to the agent (kind, type, size), never passed as bytes
    assert image.ok and "[image image/png, " in image.text
    assert "base64 chars: binary content is not passed to the agent]" in image.text
    # an embedded text resource comes through whole, under its URI
    assert text.ok and "[resource demo://resource/dynamic/text/2 text/plain]\n" in text.text
    assert "This is a plaintext resource" in text.text
    assert unannotated.decision.rule == "structural-unannotated-tool"
    assert "ironcurtain servers annotate everything" in unannotated.text


def test_mcp_server_time_from_pypi(pypi_bin: Path, tmp_path: Path) -> None:
    declare({"time": {"command": str(pypi_bin / "mcp-server-time")}})
    policy = policy_with(tmp_path / "policy", "time")
    both = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Zurich"}
    todo = [
        ("time", "get_current_time", {"timezone": "UTC"}),
        ("time", "get_current_time", {"timezone": "America/New_York"}),
        ("time", "convert_time", both),
        ("time", "convert_time", {**both, "target_timezone": "Asia/Tokyo"}),
    ]
    (utc, other, convert, unlisted), _, _ = anyio.run(calls, tmp_path / "sb", policy, todo)
    assert utc.ok and '"timezone": "UTC"' in utc.text, utc.text
    assert utc.decision.rule == "allow-known-timezones"
    assert not other.ok and other.decision.rule == "default-deny"
    assert convert.ok and "Europe/Zurich" in convert.text
    assert not unlisted.ok and unlisted.decision.rule == "default-deny"


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for argv in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(path), *argv], check=True)
    (path / "a.txt").write_text("a\n")
    return path


def _filled(value: object, places: dict[str, str]) -> object:
    text = json.dumps(value)
    for mark, path in places.items():
        text = text.replace(mark, path)
    return json.loads(text)


def test_reference_git_server_in_place_of_ours(pypi_bin: Path, tmp_path: Path) -> None:
    """The vectors (tests/vectors/declared/reference_git.json) against the real server."""
    declare({"git": {"command": str(pypi_bin / "mcp-server-git")}})
    sandbox = tmp_path / "sb"
    inside = _repo(sandbox / "repo")
    outside = _repo(tmp_path / "elsewhere")
    (sandbox / "link").symlink_to(outside)
    status = ("git", "git_status", {"repo_path": str(inside)})
    # the shipped annotations describe our git server's `path`, not its `repo_path`: refused
    (shipped_only,), _, _ = anyio.run(calls, sandbox, None, [status])
    assert not shipped_only.ok and shipped_only.decision.decision == "deny", shipped_only.text
    places = {"$SANDBOX": str(sandbox), "$OUTSIDE": str(outside), "$HOME": str(app_paths().home)}
    cases = json.loads(VECTORS.read_text())["cases"]
    todo = [("git", c["call"]["tool"], _filled(c["call"]["arguments"], places)) for c in cases]
    found, refuse, _ = anyio.run(calls, sandbox, policy_with(tmp_path / "policy", "git"), todo)
    for case, outcome in zip(cases, found, strict=True):
        got = {"decision": outcome.decision.decision, "rule": outcome.decision.rule}
        assert got == case["expect"], f"{case['description']}: {outcome.text}"
    assert "a.txt" in found[0].text  # the untracked file, as the reference server reports it
    # every escalation reached the approval channel (which said no) and nothing else did
    asked = [r.rule for r in refuse.asked]
    assert asked == [c["expect"]["rule"] for c in cases if c["expect"]["decision"] == "escalate"]
    assert all(
        not o.ok for o, c in zip(found, cases, strict=True) if c["expect"]["decision"] != "allow"
    )


def test_the_vector_file_has_the_shared_shape() -> None:
    data = json.loads(VECTORS.read_text())
    for case in data["cases"]:
        assert set(case) == {"description", "call", "expect"}, case
        assert set(case["expect"]) == {"decision", "rule"}, case
    assert {c["expect"]["decision"] for c in data["cases"]} == {"allow", "escalate", "deny"}
