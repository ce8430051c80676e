"""What differs between external agents: their image, their command line, their environment.

An `AgentAdapter` answers four questions, and nothing else: which image (built locally), what
to run for a task or an interactive session, which environment (the FAKE key only, never the
real one), and which files to seed in the agent's HOME. Everything common to all agents (the
relay to the credential proxy, the mounts, the MCP bridge, the CA) is fixed here and in
`container.py`, so Goose or Codex is one small class.

Inside every container, `/run/ironcurtain` (read-only) holds the gate socket `mcp.sock`, the
proxy socket `proxy/proxy.sock`, the proxy's CA certificate `ca.pem` (never its key), the MCP
client configuration `mcp.json`, the host's `lifeline.sock` (see `lifeline.py`) and `home/`
(copied into the tmpfs HOME at start). An entry
wrapper starts `socat` as a loopback relay from 127.0.0.1:8119 to the proxy socket: the agent
gets `HTTPS_PROXY=http://127.0.0.1:8119` and trusts the CA through `NODE_EXTRA_CA_CERTS` and
`SSL_CERT_FILE`. Nothing else leaves: the container has only `lo`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from appliance.docker.lifeline import LIFELINE_NAME, watchdog_script

__all__ = [
    "RUN_DIR",
    "AgentAdapter",
    "AgentLaunch",
    "ClaudeCode",
    "Codex",
    "adapter_for",
    "entry_command",
    "mcp_client_config",
]

RUN_DIR = "/run/ironcurtain"
GATE_SOCKET = f"{RUN_DIR}/mcp.sock"
PROXY_SOCKET = f"{RUN_DIR}/proxy/proxy.sock"
CA_CERT = f"{RUN_DIR}/ca.pem"
MCP_CONFIG = f"{RUN_DIR}/mcp.json"
LIFELINE = f"{RUN_DIR}/{LIFELINE_NAME}"
HOME = "/home/agent"
RELAY_PORT = 8119
MCP_SERVER_NAME = "ironcurtain"
# Node's compile cache, filled at image build under IMAGE_NODE_CACHE as uid 0. Node keys its
# folder by uid (`v24.x-x64-<flags>-<uid>`) and the agent's uid is the host user's, known only at
# start: the entry links each built folder under the agent's uid in the tmpfs HOME.
IMAGE_NODE_CACHE = "/opt/node-compile-cache"
NODE_CACHE = f"{HOME}/.cache/node-compile-cache"


@dataclass(frozen=True)
class AgentLaunch:
    command: list[str]
    env: dict[str, str]
    home_files: dict[str, str] = field(default_factory=dict)  # path under HOME -> content


class AgentAdapter(Protocol):
    name: str
    provider: str  # the credential proxy's provider name: whose fake key the agent gets

    def image(self, client: Any, paths: Any, progress: Callable[[str], None]) -> str:
        """Build the image if needed; return its tag."""
        ...

    def launch(
        self,
        *,
        task: str | None,
        interactive: bool,
        fake_key: str,
        auth: str = "apikey",
        conversation: str | None = None,
        resume: bool = False,
    ) -> AgentLaunch:
        """``auth``: "apikey" (``fake_key`` is a placeholder API key) or "oauth" (a
        placeholder subscription token). ``conversation``: the agent's own conversation id,
        started, or continued when ``resume`` (see agent_state.py)."""
        ...


def base_env() -> dict[str, str]:
    """What every agent's environment holds: the relay, the CA, a HOME on tmpfs."""
    proxy = f"http://127.0.0.1:{RELAY_PORT}"
    return {
        "HOME": HOME,
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "",
        "NODE_EXTRA_CA_CERTS": CA_CERT,
        "SSL_CERT_FILE": CA_CERT,
        # Package managers through the package gate (docs/credential-proxy.md, "Packages"): pip
        # and requests read their own bundle unless told; npm reads NODE_EXTRA_CA_CERTS.
        "PIP_CERT": CA_CERT,
        "REQUESTS_CA_BUNDLE": CA_CERT,
        "IRONCURTAIN_MCP_SOCKET": GATE_SOCKET,
        "NODE_COMPILE_CACHE": NODE_CACHE,
    }


def entry_command(agent_command: list[str]) -> list[str]:
    """Wrap the agent's command: start the lifeline watchdog (the container dies with the host
    process) and the proxy relay, wait (up to ~2 s) until the relay listens, seed HOME, link the
    image's Node compile cache for the agent's uid, then exec the agent. Readiness is read from
    /proc/net/tcp (state 0A = LISTEN), which needs no tool beyond grep and opens no connection."""
    listening = f":{RELAY_PORT:04X} 00000000:0000 0A"
    script = (
        watchdog_script(LIFELINE) + f"socat TCP-LISTEN:{RELAY_PORT},bind=127.0.0.1,fork,reuseaddr "
        f"UNIX-CONNECT:{PROXY_SOCKET} 2>/dev/null & "
        f"i=0; until grep -q '{listening}' /proc/net/tcp || [ $i -ge 100 ]; do "
        "sleep 0.02; i=$((i+1)); done; "
        f'if [ -d {RUN_DIR}/home ]; then cp -R {RUN_DIR}/home/. "$HOME"/; fi; '
        'mkdir -p "$HOME/.cache/apt/lists/partial" "$HOME/.cache/apt/archives/partial" '
        "2>/dev/null; "
        f'if [ -d {IMAGE_NODE_CACHE} ]; then mkdir -p "$NODE_COMPILE_CACHE" && '
        f"for d in {IMAGE_NODE_CACHE}/*-0; do b=${{d##*/}}; "
        'ln -sfn "$d" "$NODE_COMPILE_CACHE/${b%-0}-$(id -u)"; done; fi; exec "$@"'
    )
    return ["/bin/sh", "-c", script, "ironcurtain-entry", *agent_command]


# How an agent reaches our gate: a stdio MCP server that is a bridge to the gate's socket.
GATE_BRIDGE = ("socat", ["STDIO", f"UNIX-CONNECT:{GATE_SOCKET}"])


def mcp_client_config() -> str:
    """The MCP client configuration: our gate, reached through a stdio-to-socket bridge."""
    command, args = GATE_BRIDGE
    server = {"type": "stdio", "command": command, "args": args}
    return json.dumps({"mcpServers": {MCP_SERVER_NAME: server}}, indent=2)


def _built_image(client: Any, recipe: Any, paths: Any, progress: Callable[[str], None]) -> str:
    """The recipe's image (built the first time), older tags of it removed."""
    from appliance.docker.agent_image import ensure_agent_image
    from appliance.docker.image import prune_other_tags

    tag = ensure_agent_image(client, recipe, paths.cache / "docker", progress)
    for old in prune_other_tags(client, tag):
        progress(f"removed the older image {old}")
    return tag


class ClaudeCode:
    """Claude Code, from npm at a pinned version (its native executable), in a debootstrapped
    Debian with Node 24 for the agent's own work.

    `ANTHROPIC_API_KEY` is the session's fake key; Claude Code honours `HTTPS_PROXY` and
    `NODE_EXTRA_CA_CERTS`, so it talks to the real `api.anthropic.com` name through our relay and
    the proxy swaps the key. `--strict-mcp-config` makes our gate its only MCP server;
    `--dangerously-skip-permissions` turns off its own prompts because the container is the
    boundary and every tool beyond the workspace is decided by the chokepoint (`IS_SANDBOX=1`
    lets it run so when the host user is root).
    """

    name = "claude-code"
    provider = "anthropic"
    state_folder = ".claude"  # where its state (the conversation) lives under HOME

    def has_conversation(self, state: Any, conversation: str) -> bool:
        from appliance.docker.agent_state import has_conversation

        return has_conversation(state, conversation)

    def __init__(self, model: str | None = None) -> None:
        self.model = model  # passed as `--model` (checked by adapter_for)

    def image(self, client: Any, paths: Any, progress: Callable[[str], None]) -> str:
        from appliance.docker.agent_image import CLAUDE_CODE_RECIPE

        return _built_image(client, CLAUDE_CODE_RECIPE, paths, progress)

    def launch(
        self,
        *,
        task: str | None,
        interactive: bool,
        fake_key: str,
        auth: str = "apikey",
        conversation: str | None = None,
        resume: bool = False,
    ) -> AgentLaunch:
        command = ["claude", "--mcp-config", MCP_CONFIG, "--strict-mcp-config",
                   "--dangerously-skip-permissions"]  # fmt: skip
        if self.model:
            command += ["--model", self.model]
        if conversation is not None:  # a UUID we derived: never the agent's text
            command += ["--resume" if resume else "--session-id", str(uuid.UUID(conversation))]
        if not interactive:
            if not task:
                raise ValueError("a non-interactive Claude Code session needs a task")
            command += ["--print", "--output-format", "text", task]
        elif task:
            command.append(task)
        # A subscription: Claude Code takes CLAUDE_CODE_OAUTH_TOKEN before any other login and
        # sends it as `Authorization: Bearer`; the proxy swaps the placeholder for the token.
        credential = "CLAUDE_CODE_OAUTH_TOKEN" if auth == "oauth" else "ANTHROPIC_API_KEY"
        env = base_env() | {
            credential: fake_key,
            "IS_SANDBOX": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            # 2.1 defers MCP tools behind its ToolSearch tool by default: the gate's tools (the
            # agent's only way beyond its workspace, every call decided by the policy) are then
            # invisible until the model searches, and it reaches for its own shell instead.
            "ENABLE_TOOL_SEARCH": "false",
            # The container is the sandbox: 2.1 then skips its "do you trust this folder" dialog
            # (the workspace path differs per session, so it cannot be pre-answered in HOME).
            "CLAUDE_CODE_SANDBOXED": "1",
            # The TUI otherwise sends the first prompt before our MCP server has connected, and
            # the model never sees the gate's tools in that turn.
            "CLAUDE_CODE_MCP_STARTUP_WAIT_MS": "30000",
        }
        state = {
            "hasCompletedOnboarding": True,
            "bypassPermissionsModeAccepted": True,
            # Claude Code asks once whether to use an environment key; the answer is keyed by
            # the key's last 20 characters. The fake key is per session, so this is too.
            "customApiKeyResponses": {"approved": [fake_key[-20:]], "rejected": []},
        }
        return AgentLaunch(entry_command(command), env, {".claude.json": json.dumps(state)})


class Codex:
    """OpenAI's Codex CLI, from npm at a pinned version (its native executable), in the same
    Debian with Node 24.

    `OPENAI_API_KEY` is the session's fake key; Codex's HTTP client honours `HTTPS_PROXY` and
    takes our CA from `SSL_CERT_FILE` (also `CODEX_CA_CERTIFICATE`), so it talks to the real
    `api.openai.com` name through the relay and the proxy swaps the key. `~/.codex/config.toml`
    makes our gate its only MCP server (a call may wait for a human: the tool timeout is an hour),
    turns off Codex's own approvals and sandbox (the container is the boundary; every tool beyond
    the workspace is decided by the chokepoint), its update check, analytics and feedback.
    Its CODEX_HOME (~/.codex) is the session's agent-state folder, so `--resume` continues its
    newest session there (`resume --last`).
    """

    name = "codex"
    provider = "openai"
    state_folder = ".codex"  # CODEX_HOME: its sessions and their index; config.toml seeded in

    def has_conversation(self, state: Any, conversation: str) -> bool:
        """Codex names its own sessions; one of this session's state folder is resumed with
        `--last` (Codex picks the newest for the workspace folder, which a session keeps)."""
        from appliance.docker.agent_state import has_codex_session

        return has_codex_session(state)

    def __init__(self, model: str | None = None) -> None:
        self.model = model

    def image(self, client: Any, paths: Any, progress: Callable[[str], None]) -> str:
        from appliance.docker.agent_image import codex_recipe

        return _built_image(client, codex_recipe(), paths, progress)

    def launch(
        self,
        *,
        task: str | None,
        interactive: bool,
        fake_key: str,
        auth: str = "apikey",
        conversation: str | None = None,
        resume: bool = False,
    ) -> AgentLaunch:
        if auth != "apikey":
            raise ValueError("Codex runs with an OpenAI API key (openaiApiKey) only")
        model = ["--model", self.model] if self.model else []
        again = ["resume", "--last"] if resume else []
        if interactive:
            command = ["codex", *again, *model, *([task] if task else [])]
        else:
            if not task:
                raise ValueError("a non-interactive Codex session needs a task")
            command = ["codex", "exec", *again, "--skip-git-repo-check", *model, task]
        env = base_env() | {
            "OPENAI_API_KEY": fake_key,
            "CODEX_CA_CERTIFICATE": CA_CERT,
            "CODEX_HOME": f"{HOME}/.codex",
        }
        return AgentLaunch(entry_command(command), env, {".codex/config.toml": codex_config()})


def codex_config() -> str:
    """Codex's configuration (TOML): our gate as its only MCP server, its own guards off."""
    command, args = GATE_BRIDGE
    return "\n".join([
        # The API through a provider of our own naming: the key from the environment (the fake
        # one), the Responses API over HTTPS (its WebSocket transport would be refused anyway).
        'model_provider = "ironcurtain"',
        'approval_policy = "never"',
        'sandbox_mode = "danger-full-access"',
        "check_for_update_on_startup = false",
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[feedback]",
        "enabled = false",
        "",
        "[model_providers.ironcurtain]",
        'name = "OpenAI, through the IronCurtain credential proxy"',
        'base_url = "https://api.openai.com/v1"',
        'env_key = "OPENAI_API_KEY"',
        'wire_api = "responses"',
        "",
        f"[mcp_servers.{MCP_SERVER_NAME}]",
        f"command = {json.dumps(command)}",
        f"args = {json.dumps(args)}",
        "required = true",
        "startup_timeout_sec = 30",
        "tool_timeout_sec = 3600",
        "",
    ])  # fmt: skip


_ADAPTERS: dict[str, Callable[..., AgentAdapter]] = {"claude-code": ClaudeCode, "codex": Codex}


# An agent's model name as its own command line takes it: an alias (opus), an id
# (claude-opus-4-1-20250805), a variant (sonnet[1m]); never an option or a second argument.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]{0,127}")


def adapter_for(name: str, model: str | None = None) -> AgentAdapter:
    if model is not None and not _MODEL_NAME.fullmatch(model):
        raise ValueError(
            f"--model {model!r}: a model name is letters, digits and . _ : @ / [ ] - "
            "(at most 128, not starting with '-')"
        )
    try:
        factory = _ADAPTERS[name]
    except KeyError:
        known = ", ".join(sorted(_ADAPTERS))
        raise ValueError(f"unknown agent {name!r}: known agents are {known}") from None
    return factory(model) if model else factory()
