"""The pieces of Docker mode that need no engine: what the agent is launched with, the
container's restrictions, budgets from proxy events, the escalation bell, stop requests."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest

from appliance.credproxy.events import ProxyEvent, TokenUsage
from appliance.docker.adapters import (
    CA_CERT,
    GATE_SOCKET,
    MCP_CONFIG,
    ClaudeCode,
    Codex,
    adapter_for,
    mcp_client_config,
)
from appliance.docker.agent_image import CLAUDE_CODE_RECIPE, AgentRecipe, codex_recipe
from appliance.docker.container import ContainerSpec, RuntimeDir
from appliance.docker.metering import UsageMeter
from appliance.docker.supervise import EscalationBell, Stop
from appliance.session.budget import ResourceBudget

FAKE = "sk-ant-api03-" + "f" * 93 + "AA"


def test_claude_code_task_launch_carries_only_the_fake_key_and_our_gate() -> None:
    launch = ClaudeCode().launch(task="fix the bug", interactive=False, fake_key=FAKE)
    env = launch.env
    assert env["ANTHROPIC_API_KEY"] == FAKE
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:8119" and env["NODE_EXTRA_CA_CERTS"] == CA_CERT
    assert not any(k.startswith(("OPENAI", "GOOGLE")) for k in env)
    agent = launch.command[launch.command.index("ironcurtain-entry") + 1 :]
    assert agent[:5] == ["claude", "--mcp-config", MCP_CONFIG, "--strict-mcp-config",
                         "--dangerously-skip-permissions"]  # fmt: skip
    assert agent[-4:] == ["--print", "--output-format", "text", "fix the bug"]
    state = json.loads(launch.home_files[".claude.json"])
    assert state["customApiKeyResponses"]["approved"] == [FAKE[-20:]]


def test_claude_code_interactive_launch_has_no_print_mode() -> None:
    launch = ClaudeCode().launch(task=None, interactive=True, fake_key=FAKE)
    assert "--print" not in launch.command
    with pytest.raises(ValueError, match="needs a task"):
        ClaudeCode().launch(task=None, interactive=False, fake_key=FAKE)


def test_unknown_agent_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown agent 'goose': known agents are claude-code, codex"
    ):
        adapter_for("goose")


def test_codex_launch_carries_only_the_fake_key_and_our_gate() -> None:
    import tomllib

    fake = "sk-proj-" + "f" * 40
    launch = Codex("gpt-5").launch(task="fix the bug", interactive=False, fake_key=fake)
    env = launch.env
    assert env["OPENAI_API_KEY"] == fake and env["CODEX_CA_CERTIFICATE"] == CA_CERT
    assert env["SSL_CERT_FILE"] == CA_CERT and env["HTTPS_PROXY"] == "http://127.0.0.1:8119"
    assert not any(k.startswith(("ANTHROPIC", "GOOGLE", "CLAUDE")) for k in env)
    agent = launch.command[launch.command.index("ironcurtain-entry") + 1 :]
    assert agent == ["codex", "exec", "--skip-git-repo-check", "--model", "gpt-5", "fix the bug"]
    config = tomllib.loads(launch.home_files[".codex/config.toml"])
    assert list(config["mcp_servers"]) == ["ironcurtain"]  # the gate, and nothing else
    gate = config["mcp_servers"]["ironcurtain"]
    assert (gate["command"], gate["args"]) == ("socat", ["STDIO", f"UNIX-CONNECT:{GATE_SOCKET}"])
    assert gate["required"] is True and gate["tool_timeout_sec"] >= 3600  # a human may answer
    assert config["approval_policy"] == "never" and config["sandbox_mode"] == "danger-full-access"
    assert config["analytics"] == {"enabled": False} and not config["check_for_update_on_startup"]
    provider = config["model_providers"][config["model_provider"]]
    assert provider["base_url"] == "https://api.openai.com/v1"  # the real name, through the proxy
    assert provider["env_key"] == "OPENAI_API_KEY"
    interactive = Codex().launch(task=None, interactive=True, fake_key=fake)
    assert interactive.command[-1] == "codex"
    with pytest.raises(ValueError, match="needs a task"):
        Codex().launch(task=None, interactive=False, fake_key=fake)
    with pytest.raises(ValueError, match="API key"):
        Codex().launch(task="t", interactive=False, fake_key=fake, auth="oauth")


def test_codex_recipe_pins_the_platform_build_and_leaves_out_its_voice_runtime() -> None:
    recipe = codex_recipe("x86_64")
    assert recipe.tarball_url == (
        f"https://registry.npmjs.org/@openai/codex/-/codex-{recipe.npm_version}.tgz"
    )
    assert recipe.npm_version.endswith("-linux-x64") and recipe.npm_integrity.startswith("sha512-")
    assert recipe.npm_bin == ("codex", "vendor/x86_64-unknown-linux-musl/bin/codex")
    assert recipe.npm_skip == ("vendor/x86_64-unknown-linux-musl/codex-resources/voice/",)
    assert codex_recipe("aarch64").npm_version.endswith("-linux-arm64")
    assert codex_recipe("riscv64").npm_integrity == ""  # no pin: its build says so


def test_mcp_config_points_only_at_the_gate_socket() -> None:
    servers = json.loads(mcp_client_config())["mcpServers"]
    assert list(servers) == ["ironcurtain"]
    assert servers["ironcurtain"]["args"] == ["STDIO", f"UNIX-CONNECT:{GATE_SOCKET}"]


def test_container_spec_locks_everything_down(tmp_path: Path) -> None:
    launch = ClaudeCode().launch(task="t", interactive=False, fake_key=FAKE)
    kwargs = ContainerSpec("img:1", launch, tmp_path / "ws", tmp_path / "rt", "s1").run_kwargs()
    assert kwargs["network_mode"] == "none" and kwargs["read_only"] is True
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["pids_limit"] > 0 and kwargs["mem_limit"] == kwargs["memswap_limit"]
    assert kwargs["init"] is True
    assert "privileged" not in kwargs and "cap_add" not in kwargs and "devices" not in kwargs
    assert kwargs["volumes"] == {
        str(tmp_path / "ws"): {"bind": str(tmp_path / "ws"), "mode": "rw"},
        str(tmp_path / "rt"): {"bind": "/run/ironcurtain", "mode": "ro"},
    }
    assert set(kwargs["tmpfs"]) == {"/tmp", "/home/agent"}
    assert kwargs["labels"]["ironcurtain.session"] == "s1"
    assert kwargs["labels"]["ironcurtain.pid"].isdigit()


def test_runtime_dir_is_private_holds_no_ca_key_and_is_removed(tmp_path: Path) -> None:
    cert = tmp_path / "ca-cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "ca-key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    launch = ClaudeCode().launch(task="t", interactive=False, fake_key=FAKE)
    with RuntimeDir() as runtime:
        assert runtime.path.stat().st_mode & 0o777 == 0o700
        assert len(str(runtime.path / "proxy" / "proxy.sock")) < 100, "Unix socket path limit"
        runtime.write_files(launch, cert)
        names = sorted(p.name for p in runtime.path.rglob("*"))
        assert names == [".claude.json", "ca.pem", "home", "mcp.json"]
    assert not runtime.path.exists()


def test_recipe_tag_changes_with_any_pinned_input() -> None:
    for field, value in [("npm_version", "2.0.76"), ("npm_integrity", "sha512-x"),
                         ("node_wheel", ("https://example/n.whl", "sha256:00"))]:  # fmt: skip
        bumped = AgentRecipe(**{**CLAUDE_CODE_RECIPE.__dict__, field: value})
        assert bumped.tag() != CLAUDE_CODE_RECIPE.tag(), field
    assert CLAUDE_CODE_RECIPE.tag() == CLAUDE_CODE_RECIPE.tag()
    version = CLAUDE_CODE_RECIPE.npm_version
    assert CLAUDE_CODE_RECIPE.tarball_url.endswith(f"-{version}.tgz")


def only(**limits: float) -> ResourceBudget:
    """Budget limits with every limit off except those given."""
    off = {"max_total_tokens": None, "max_steps": None, "max_session_seconds": None,
           "max_estimated_cost_usd": None}  # fmt: skip
    return ResourceBudget(**(off | limits))


def event(kind: str, usage: TokenUsage | None = None) -> ProxyEvent:
    return ProxyEvent(kind=kind, flow_id="f", host="api.anthropic.com", method="POST",
                      path="/v1/messages", provider="anthropic", usage=usage)  # fmt: skip


def test_token_budget_refuses_the_next_request_once_used_up() -> None:
    warnings: list[str] = []
    meter = UsageMeter(only(max_total_tokens=1000), price=lambda *_: None, warn=warnings.append)
    meter.on_event(event("forwarded"))
    meter.on_event(event("usage", TokenUsage(input_tokens=500, output_tokens=350, model="m")))
    assert meter.refusal() is None and any("80 %" in w for w in warnings)
    meter.on_event(event("usage", TokenUsage(input_tokens=100, output_tokens=60, model="m")))
    assert meter.refusal() == "the tokens budget is used up (1010 of 1000)"
    assert meter.exhausted.is_set()
    meter.close()


def test_cost_budget_counts_priced_models_and_warns_once_about_unpriced() -> None:
    warnings: list[str] = []
    prices = {"cheap": 0.5}
    meter = UsageMeter(
        only(max_estimated_cost_usd=1.0),
        price=lambda model, *_: prices.get(model),
        warn=warnings.append,
    )
    for model in ("mystery", "mystery", "cheap", "cheap"):
        meter.on_event(event("usage", TokenUsage(input_tokens=1, model=model)))
    meter.close()  # drains the cost worker
    assert meter.check() == "the cost_usd budget is used up (1.0 of 1.0)"
    assert [w for w in warnings if "mystery" in w] == [
        "no price known for model mystery: the cost budget does not count it"
    ]


def test_steps_are_forwarded_requests() -> None:
    meter = UsageMeter(only(max_steps=2), price=lambda *_: None)
    meter.on_event(event("denied"))
    meter.on_event(event("forwarded"))
    assert meter.refusal() is None
    meter.on_event(event("forwarded"))
    assert meter.refusal() == "the steps budget is used up (2 of 2)"
    meter.close()


def test_bell_rings_once_per_waiting_request(tmp_path: Path) -> None:
    stream = io.StringIO()
    bell = EscalationBell(tmp_path, pty=True, stream=stream)
    (tmp_path / "request-a.json").write_text("{}")
    (tmp_path / "request-b.json").write_text("{}")
    (tmp_path / "response-b.json").write_text("{}")  # already answered
    assert bell.poll() == 1 and bell.poll() == 0
    assert stream.getvalue() == "\a"
    quiet = EscalationBell(tmp_path, pty=False, stream=io.StringIO())
    (tmp_path / "request-c.json").write_text("{}")
    assert quiet.poll() == 2 and "escalation-listener" in quiet.stream.getvalue()


def test_ctrl_c_once_stops_twice_kills_and_sigterm_kills(capsys: pytest.CaptureFixture) -> None:
    stop = Stop()
    stop.on_signal(signal.SIGINT)
    assert (stop.reason, stop.kill) == ("interrupted (Ctrl-C)", False)
    assert "Ctrl-C again" in capsys.readouterr().err
    stop.on_signal(signal.SIGINT)
    assert stop.kill
    term = Stop()
    term.on_signal(signal.SIGTERM)
    assert (term.reason, term.kill) == ("received SIGTERM", True)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./x", "a/", ""])
def test_home_seed_paths_stay_inside_home(tmp_path: Path, name: str) -> None:
    from appliance.docker.adapters import AgentLaunch

    with RuntimeDir() as runtime, pytest.raises(ValueError, match="relative path of plain names"):
        runtime.write_files(AgentLaunch(["x"], {}, {name: "x"}), None)


def test_home_seed_makes_private_folders_for_nested_files() -> None:
    from appliance.docker.adapters import AgentLaunch

    with RuntimeDir() as runtime:
        runtime.write_files(AgentLaunch(["x"], {}, {".codex/config.toml": "a = 1\n"}), None)
        folder = runtime.path / "home" / ".codex"
        assert (folder / "config.toml").read_text() == "a = 1\n"
        assert folder.stat().st_mode & 0o777 == 0o700


def test_codex_resumes_its_newest_session_of_the_state_folder(tmp_path: Path) -> None:
    from appliance.docker.agent_state import has_codex_session

    fake = "sk-proj-" + "f" * 40
    again = Codex().launch(task="go on", interactive=False, fake_key=fake, resume=True)
    agent = again.command[again.command.index("ironcurtain-entry") + 1 :]
    assert agent == ["codex", "exec", "resume", "--last", "--skip-git-repo-check", "go on"]
    assert Codex.state_folder == ".codex" and ClaudeCode.state_folder == ".claude"
    state = tmp_path / "state"
    day = state / "sessions/2026/12/05"
    day.mkdir(parents=True)
    assert not Codex().has_conversation(state, "any")
    (day / "notes.txt").write_text("x")
    assert not has_codex_session(state)
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("{}")
    (day / "rollout-1.jsonl").symlink_to(elsewhere)  # a link the agent planted: not followed
    assert not has_codex_session(state)
    (day / "rollout-2.jsonl").write_text("{}")
    assert Codex().has_conversation(state, "any")
