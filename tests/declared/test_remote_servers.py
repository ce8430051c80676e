"""Remote MCP servers over Streamable HTTP behind a real session and chokepoint (issue 16): the
MCP SDK's own server on loopback, in SSE and in JSON answer mode; a session the server forgot;
``tools/list_changed`` on a call's stream and on the session's GET stream; ``servers list`` with
a reachable and an unreachable remote server; the weakening said at start."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.server_pool import ServerSpec
from appliance.cli.main import main
from appliance.config.paths import AppPaths
from appliance.config.servers import DeclaredServer
from appliance.config.settings import Config, weakening_settings
from appliance.session.core import SessionOptions, open_session, remote_spec
from tests.declared.remote_helpers import SERVER, free_port, sdk_remote

pytestmark = pytest.mark.anyio
POLICY = Path(__file__).parents[1] / "vectors" / "declared" / "remote-policy"
TOKEN = "Bearer remote-token-91b3e7d2"


def _options(tmp_path: Path) -> SessionOptions:
    return SessionOptions(task="t", sandbox=tmp_path / "sb", policy_dir=POLICY)


def _spec(url: str):
    return remote_spec("remote", DeclaredServer(url=url, headers={"Authorization": TOKEN}))


def _records(audit: Path, kind: str) -> list[dict]:
    lines = (json.loads(line) for line in audit.read_text().splitlines())
    return [r for r in lines if r.get("type") == kind]


@pytest.mark.parametrize("json_answers", [False, True], ids=["sse", "json"])
async def test_calls_reach_the_remote_server_through_the_chokepoint(
    json_answers: bool, home: AppPaths, tmp_path: Path
) -> None:
    with sdk_remote(tmp_path, json_answers=json_answers) as server:
        async with open_session(Config(), home, _options(tmp_path), specs=[_spec(server.url)]) as s:
            echoed = await s.chokepoint.call("remote", "echo", {"text": "hello over http"})
            wrong = await s.chokepoint.call("remote", "echo", {"text": 5})
            unknown = await s.chokepoint.call("remote", "nope", {})
        assert server.received() == [TOKEN]  # the one call that ran carried the header
    assert echoed.ok and echoed.text == "hello over http"
    assert echoed.decision.rule == "allow-remote-test-server"
    assert wrong.decision.rule == "invalid-arguments"
    assert unknown.decision.rule == "structural-unknown-tool"
    audit = s.audit_path.read_text()
    assert TOKEN.split()[-1] not in audit
    assert [r["tool"] for r in _records(s.audit_path, "call")] == ["echo", "echo", "nope"]


async def test_a_forgotten_session_is_started_again(home: AppPaths, tmp_path: Path) -> None:
    """The server restarts (same port, no memory of the session): it answers 404 to the old
    session id, and the client initializes again and resends the call once."""
    port = free_port()
    with sdk_remote(tmp_path, port=port) as first:
        async with open_session(Config(), home, _options(tmp_path), specs=[_spec(first.url)]) as s:
            before = await s.chokepoint.call("remote", "echo", {"text": "one"})
            first.process.terminate()
            first.process.wait(10)
            with sdk_remote(tmp_path, port=port) as second:
                after = await s.chokepoint.call("remote", "echo", {"text": "two"})
            assert second.received() == [TOKEN, TOKEN]  # one log per port: both calls
    assert before.ok and after.ok and after.text == "two"


async def test_list_changed_on_the_calls_stream_refuses_new_and_changed_tools(
    home: AppPaths, tmp_path: Path
) -> None:
    with sdk_remote(tmp_path) as server:
        async with open_session(Config(), home, _options(tmp_path), specs=[_spec(server.url)]) as s:
            grown = await s.chokepoint.call("remote", "grow", {"via": "post"})
            extra = await s.chokepoint.call("remote", "extra", {"n": 2})
            echo = await s.chokepoint.call("remote", "echo", {"text": "x", "loud": True})
            again = await s.chokepoint.call("remote", "extra", {"n": 3})
            who = await s.chokepoint.call("remote", "whoami", {})
    assert grown.ok
    assert extra.decision.rule == "structural-unannotated-tool" and not extra.ok
    assert "ironcurtain servers annotate remote" in extra.text
    assert echo.decision.rule == "structural-stale-annotation" and not echo.ok
    assert again.decision.rule == "structural-unannotated-tool"
    assert who.ok  # an unchanged tool keeps working
    changes = _records(s.audit_path, "tools-changed")
    assert changes == [
        {**changes[0], "server": "remote", "added": ["extra"], "removed": [], "changed": ["echo"]}
    ]  # once, not once per refused call


async def test_list_changed_over_stdio(home: AppPaths, tmp_path: Path) -> None:
    """The same server over stdio: the notification arrives on the pipe, with the same effect."""
    argv = (sys.executable, str(SERVER), "stdio", str(tmp_path / "log"))
    spec = ServerSpec("remote", argv=argv, call_timeout_s=30)
    async with open_session(Config(), home, _options(tmp_path), specs=[spec]) as s:
        assert (await s.chokepoint.call("remote", "grow", {"via": "post"})).ok
        extra = await s.chokepoint.call("remote", "extra", {"n": 2})
        echo = await s.chokepoint.call("remote", "echo", {"text": "x"})
    assert extra.decision.rule == "structural-unannotated-tool"
    assert echo.decision.rule == "structural-stale-annotation"
    assert len(_records(s.audit_path, "tools-changed")) == 1


async def test_list_changed_on_the_sessions_own_stream(home: AppPaths, tmp_path: Path) -> None:
    """In JSON answer mode a call's answer carries no notification: the server announces the
    change on the GET stream the client keeps open."""
    with sdk_remote(tmp_path, json_answers=True) as server:
        async with open_session(Config(), home, _options(tmp_path), specs=[_spec(server.url)]) as s:
            assert (await s.chokepoint.call("remote", "grow", {"via": "get"})).ok
            with anyio.fail_after(10):
                while "extra" not in await s.servers.tools("remote"):
                    await anyio.sleep(0.05)
            extra = await s.chokepoint.call("remote", "extra", {"n": 2})
    assert extra.decision.rule == "structural-unannotated-tool"
    assert len(_records(s.audit_path, "tools-changed")) == 1


def test_servers_list_shows_reachable_and_unreachable_remote_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    with sdk_remote(tmp_path) as server:
        assert main(["servers", "add", "remote", "--url", server.url, "--header",
                     f"Authorization={TOKEN}"]) == 0  # fmt: skip
        assert "kernel confinement does not apply" in capsys.readouterr().out
        assert main(["servers", "add", "gone", "--url", dead]) == 0
        capsys.readouterr()
        assert main(["servers", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["servers"]}
    assert rows["remote"]["kind"] == "remote" and rows["remote"]["tools"] == 3
    assert rows["remote"]["unannotated"] == ["echo", "grow", "whoami"]
    assert rows["remote"]["confinement"].startswith("NONE: a remote server")
    assert rows["gone"]["tools"] is None and "ConnectError" in rows["gone"]["error"]
    assert rows["filesystem"]["tools"] == 14  # the others are listed as ever
    assert main(["servers", "list"]) == 0
    text = capsys.readouterr().out
    assert "gone" in text and "unreachable: " in text


def test_a_remote_server_is_a_weakening_said_at_start() -> None:
    config = Config(mcp_servers={"tracker": DeclaredServer(url="https://mcp.example.com/mcp")})
    sentences = [s for s in weakening_settings(config) if "mcpServers.tracker" in s]
    assert sentences == [
        "mcpServers.tracker is a remote server (https://mcp.example.com/mcp): kernel confinement "
        "does not apply to it; only the policy stands between the agent and it (docs/servers.md, "
        "'Remote servers')."
    ]


def test_plain_http_to_the_network_stops_the_config_load_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["servers", "add", "far", "--url", "http://mcp.example.com/mcp"]) == 2
    err = capsys.readouterr().err
    assert "mcpServers.far" in err and "url" in err and "plain http to mcp.example.com" in err


def test_doctor_names_a_remote_server_unreachable_and_unconfined(home: AppPaths) -> None:
    from appliance.cli.doctor.base import Facts
    from appliance.cli.doctor.confinement import check_confinement
    from appliance.cli.doctor.servers import check_servers

    dead = DeclaredServer(url=f"http://127.0.0.1:{free_port()}/mcp")
    config = Config(mcp_servers={"gone": dead})
    facts = Facts(paths=home, config=config, config_error=None, online=False)
    reached = {c.name: c for c in check_servers(facts)}
    confined = {c.name: c for c in check_confinement(facts)}
    assert reached["server:gone"].status == "fail"
    assert reached["server:gone"].detail.startswith("unreachable: ")
    assert "mcpServers.gone.url" in reached["server:gone"].fix
    assert confined["confinement:gone"].status == "warn"
    assert "remote server" in confined["confinement:gone"].detail
