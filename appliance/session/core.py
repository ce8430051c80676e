"""A session: its folder, its servers, its policy, its audit log and its chokepoint, opened and
closed as one unit so nothing (a server process, a registry entry, an open approval) outlives it.

Layout, under ``sessions/<id>/``: ``sandbox/`` (the agent's working folder), ``escalations/``
(file IPC with the escalation listener), ``audit.jsonl``, ``session.json`` (state for
``ironcurtain sessions``), ``history.json`` (the conversation, for ``--resume``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from appliance.chokepoint.audit import AuditLog, AuditWriteError
from appliance.chokepoint.audit.options import audit_options
from appliance.chokepoint.escalation import FileChannel, FirstAnswer, register_session
from appliance.chokepoint.escalation.display import neutralise
from appliance.chokepoint.policy_context import policy_context
from appliance.chokepoint.server_pool import ServerPool, ServerSpec, self_command
from appliance.chokepoint.session_guard import restore
from appliance.chokepoint.trip import Chokepoint, SessionStopped
from appliance.config.paths import AppPaths
from appliance.config.sections import ChokepointSettings
from appliance.config.servers import (
    BUILTIN_SERVERS,
    DeclaredServer,
    registry,
)
from appliance.config.settings import Config, weakening_settings
from appliance.session.catalog import shipped_catalog
from appliance.session.state_file import write_state
from policy.api import EvalContext, Policy, default_policy_dir, load_policy

if TYPE_CHECKING:
    from appliance.chokepoint.escalation.auto_approver import AutoApprover
    from appliance.chokepoint.task_planner import TaskPlanner
    from appliance.chokepoint.trip import EscalationChannel

__all__ = ["Session", "SessionOptions", "new_session_id", "open_session", "policy_dir_for"]


def new_session_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def policy_dir_for(paths: AppPaths, override: str | Path | None = None) -> Path:
    """The user's compiled policy when there is one, else the shipped default."""
    if override is not None:
        return Path(override)
    if (paths.generated / "compiled-policy.json").is_file():
        return paths.generated
    return default_policy_dir()


@dataclass(frozen=True)
class SessionOptions:
    task: str = ""
    policy_dir: Path | None = None
    sandbox: Path | None = None  # default: sessions/<id>/sandbox
    session_id: str | None = None
    interactive_channel: EscalationChannel | None = None  # the terminal's prompt, if attached
    mode: str = "code"
    auto_approver: AutoApprover | None = None  # overrides the one built from config (tests, demo)
    extra_weakening: tuple[str, ...] = ()  # e.g. the credential proxy's loosened settings
    warned: bool = False  # the caller printed the weakening warnings already (before a prompt)


@dataclass
class Session:
    id: str
    dir: Path
    sandbox: Path
    config: Config
    policy: Policy
    chokepoint: Chokepoint
    servers: ServerPool
    # Set by whoever runs the session before it closes: finished, interrupted (Ctrl-C),
    # terminated (SIGTERM) or stopped (with a reason: budget, model). All can be resumed.
    ending: str | None = None
    reason: str = ""

    @property
    def audit_path(self) -> Path:
        return self.dir / "audit.jsonl"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.json"

    def set_state(self, **fields: Any) -> None:
        """Update ``session.json`` (``state``, ``task``, …) for ``ironcurtain sessions``."""
        write_state(self.dir, **fields)


def server_specs(
    config: Config, sandbox: Path, *, all_shipped: bool = False, use_catalog: bool = True
) -> list[ServerSpec]:
    """Every server of the registry (the shipped ones and ``mcpServers``), as the pool starts
    them (a declared ``url`` is a remote server over Streamable HTTP). A shipped server carries
    its known tool list (``use_catalog``), so listing tools starts nothing; ``use_catalog=False``
    is for the command that writes that list."""
    confined = _confinement_env(config)
    known = shipped_catalog() if use_catalog else {}
    specs = []
    # all_shipped: every shipped server, even one whose setting is missing (the compiler lists
    # their tools; the github server starts without a token, its calls then fail with 401)
    available = {"github_token": all_shipped or config.github_token is not None}
    for name, declared in registry(config.mcp_servers, available).items():
        if declared is None:
            spec = _builtin_spec(name, config, sandbox, confined)
            specs.append(dataclasses.replace(spec, catalog=known.get(name)))
        elif declared.remote:
            specs.append(remote_spec(name, declared))
        else:
            specs.append(declared_spec(name, declared, sandbox, confined))
    return specs


def declared_spec(
    name: str, declared: DeclaredServer, sandbox: Path, confined: Mapping[str, str]
) -> ServerSpec:
    """A declared stdio server: its own command, or ``ironcurtain confine`` in front of it."""
    command = (declared.command or "", *declared.args)
    if declared.confinement is not None:
        where = declared.confinement
        profile = (
            ["--profile", str(Path(where).expanduser())]
            if isinstance(where, str)
            else ["--profile-json", json.dumps(where)]
        )
        command = (*self_command(), "confine", "--name", name, *profile, "--", *command)
    if declared.cwd:
        cwd = str(Path(declared.cwd).expanduser())
    elif declared.confinement is not None:
        cwd = str(sandbox)  # its root when the profile says "cwd"; confined, whatever it runs
    else:
        # Never the agent's workspace for a server with no confinement: launchers read code and
        # configuration from the folder they start in (npx: node_modules/.bin and .npmrc, uv:
        # pyproject.toml, python -m: the folder itself), so the agent's files would run with the
        # user's rights. The user's home: what a desktop client gives it, never a workspace.
        cwd = str(Path.home())
    return ServerSpec(
        name,
        env={**declared.env, **confined},
        cwd=cwd,
        argv=command,
        judge=declared.judge,
        secrets=declared.secrets(),
    )


def remote_spec(name: str, declared: DeclaredServer) -> ServerSpec:
    """A declared remote server: its headers go with its own requests only, and every value
    in them is a secret the audit and the agent's results never show."""
    return ServerSpec(
        name,
        url=declared.url,
        headers=dict(declared.headers),
        judge=declared.judge,
        secrets=declared.secrets(),
    )


def _builtin_spec(
    name: str, config: Config, sandbox: Path, confined: Mapping[str, str]
) -> ServerSpec:
    judge = BUILTIN_SERVERS[name].get("judge")
    if name == "filesystem":
        roots = [str(sandbox)]
        for entry in config.allowed_directories:
            path = Path(entry).expanduser()
            if path.is_dir() and str(path) not in roots:
                roots.append(str(path))
        return ServerSpec(name, tuple(roots), env=confined, cwd=str(sandbox))
    if name == "git":
        # git works inside the sandbox only: the server's own containment, whatever the policy.
        args = ("--base-dir", str(sandbox))
        return ServerSpec(name, args, env=confined, cwd=str(sandbox), judge=judge)
    if name == "github":
        token = config.github_token.get_secret_value() if config.github_token else ""
        # the token goes to this one server, nowhere else, and never into the audit
        env = {"GITHUB_PERSONAL_ACCESS_TOKEN": token}
        if config.github_host:
            env["GITHUB_HOST"] = config.github_host
        return ServerSpec(
            name, (), env={**confined, **env}, cwd=str(sandbox), secrets=(token,) if token else ()
        )
    fetch_env: dict[str, str] = {}
    search = config.web_search
    hidden: tuple[str, ...] = ()
    if search.provider:
        fetch_env["IRONCURTAIN_WEB_SEARCH_PROVIDER"] = search.provider
        if search.api_key is not None:
            fetch_env["IRONCURTAIN_WEB_SEARCH_API_KEY"] = search.api_key.get_secret_value()
            hidden = (search.api_key.get_secret_value(),)
    return ServerSpec(name, (), env={**confined, **fetch_env}, cwd=str(sandbox), secrets=hidden)


def _confinement_env(config: Config) -> dict[str, str]:
    """What ``serve`` needs to confine a server: the mode, and where the appliance's home is
    (a folder no server may reach; only a server that knows it can refuse a root around it)."""
    env = {"IRONCURTAIN_CONFINEMENT": config.confinement}
    for name in ("IRONCURTAIN_HOME", "IRONCURTAIN_CACHE"):
        if name in os.environ:
            env[name] = str(Path(os.environ[name]).expanduser().absolute())
    return env


def eval_context(
    paths: AppPaths, sandbox: Path, settings: ChokepointSettings | None = None
) -> EvalContext:
    return policy_context(paths, sandbox, settings=settings)  # the same builder as `policy check`


@contextlib.asynccontextmanager
async def open_session(
    config: Config,
    paths: AppPaths,
    options: SessionOptions,
    specs: list[ServerSpec] | None = None,
) -> AsyncIterator[Session]:
    session_id = options.session_id or new_session_id()
    session_dir = paths.session_dir(session_id)
    sandbox = (options.sandbox or session_dir / "sandbox").absolute()
    escalations = session_dir / "escalations"
    for folder in (session_dir, sandbox, escalations):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    policy = load_policy(policy_dir_for(paths, options.policy_dir))
    weakening = [*weakening_settings(config), *options.extra_weakening]
    for sentence in weakening if not options.warned else ():
        print(f"warning: {sentence}", file=sys.stderr)
    audit_file = session_dir / "audit.jsonl"
    settings = ChokepointSettings.of(config)  # what the chokepoint's parts may read
    trail = audit_options(settings.audit, paths)
    resumed = audit_file.exists()
    if resumed:
        audit = AuditLog.open_existing(audit_file, **trail)
        try:
            report_unknown_outcomes(audit)
        except AuditWriteError:
            audit.close()
            raise
    else:
        audit = AuditLog.create(
            audit_file,
            session_id=session_id,
            settings=_audit_settings(config, options, sandbox),
            weakening=weakening,
            policy_digest=policy.digest,
            **trail,
        )
    channel = _channel(escalations, paths.registry, settings, options)
    specs = specs or server_specs(config, sandbox)
    write_state(session_dir, state="running", id=session_id, task=options.task, pid=os.getpid())
    state, reason = "crashed", ""
    session: Session | None = None
    try:
        with register_session(paths.registry, session_id, os.getpid(), escalations):
            async with ServerPool(specs) as servers:
                chokepoint = Chokepoint(
                    servers=servers,
                    policy=policy,
                    context=eval_context(paths, sandbox, settings),
                    audit=audit,
                    escalation=channel,
                    session_id=session_id,
                    settings=settings,
                    secrets=tuple(secret for spec in specs for secret in spec.secrets),
                    server_roots=_server_roots(specs),
                )
                servers.on_tools_changed = _audit_tools_changed(audit)
                if resumed:  # task grants, session lists, sums: as the log left them
                    restore(chokepoint.session_state, _log_records(audit_file))
                chokepoint.auto_approver = options.auto_approver or _auto_approver(
                    config, settings, chokepoint
                )
                chokepoint.task_planner = _task_planner(config, settings)
                session = Session(
                    session_id, session_dir, sandbox, config, policy, chokepoint, servers
                )
                yield session
                state, reason = session.ending or "finished", session.reason
    except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
        # Ctrl-C or a cancelled task is the user's doing, not a crash: resumable as such.
        state = (session.ending if session is not None else None) or "interrupted"
        raise
    finally:
        audit.close(mark_end=True)
        write_state(session_dir, state=state, reason=reason)


def report_unknown_outcomes(audit: AuditLog, out: Any = None) -> int:
    """A resumed log's calls that went ahead with no result recorded (the host died while the
    server worked): each is said on the terminal and recorded as ``outcome-unknown`` (once:
    a later resume does not repeat it). None is run again. Returns how many were new."""
    out = out if out is not None else sys.stderr
    new = [call for call in audit.dangling if call.reported is None]
    for call in new:
        audit.append(
            {
                "type": "outcome-unknown",
                "intent": call.seq,
                "server": call.server,
                "tool": call.tool,
                "decision": call.decision,
                "rule": call.rule,
                "callDigest": call.call_digest,
            }
        )
        print(
            f"ironcurtain: session {neutralise(audit.session_id)} stopped while a call was at "
            f"its server: {neutralise(call.describe())}. It may have had its effect; the "
            "outcome is unknown and it is not run again (check it before going on).",
            file=out,
        )
    return len(new)


def _audit_tools_changed(audit: AuditLog) -> Callable[[str, dict[str, list[str]]], None]:
    """One audit record per ``tools/list_changed`` that changed something: which tools came,
    went or changed their schema (those are refused until annotated again)."""

    def record(server: str, change: dict[str, list[str]]) -> None:
        try:
            audit.append({"type": "tools-changed", "server": server, **change})
        except AuditWriteError as exc:  # as for a call: no audit, no session
            raise SessionStopped(f"the audit log could not be written: {exc}") from exc

    return record


def _channel(
    escalations: Path, registry: Path, settings: ChokepointSettings, options: SessionOptions
) -> EscalationChannel:
    files = FileChannel(
        escalations, timeout_s=settings.escalation_timeout_seconds, registry_dir=registry
    )
    if options.interactive_channel is None:
        return files
    return FirstAnswer(options.interactive_channel, files)


def _server_roots(specs: list[ServerSpec]) -> dict[str, tuple[str, ...]]:
    """The folders each folder-confined server was started with (the filesystem server's
    positional arguments are its roots)."""
    return {s.name: s.args for s in specs if s.name == "filesystem" and s.argv is None}


def _auto_approver(
    config: Config, settings: ChokepointSettings, chokepoint: Chokepoint
) -> AutoApprover | None:
    """The chokepoint's section says whether and which model; the whole config holds its key."""
    if not settings.auto_approve.enabled:
        return None
    from appliance.chokepoint.escalation.auto_approver import AutoApprover
    from appliance.config.model_settings import ModelSettings

    model = ModelSettings.for_model(config, settings.auto_approve.model_id)
    return AutoApprover(model, lambda: chokepoint.latest_user_message)


def _task_planner(config: Config, settings: ChokepointSettings) -> TaskPlanner | None:
    """taskPlan: the chokepoint's section says whether and which model; the config its key."""
    if not settings.task_plan.enabled:
        return None
    from appliance.chokepoint.task_planner import TaskPlanner
    from appliance.config.model_settings import ModelSettings

    return TaskPlanner(ModelSettings.for_model(config, settings.task_plan.model_id))


def _audit_settings(config: Config, options: SessionOptions, sandbox: Path) -> dict[str, Any]:
    return {
        "mode": options.mode,
        "sandbox": str(sandbox),
        "agentModelId": config.agent_model_id,
        "autoApprove": config.auto_approve.enabled,
        "taskPlan": config.task_plan.enabled,
        "auditRedaction": config.audit_redaction,
        "auditExport": config.audit.export,
        "confinement": config.confinement,
        "escalationTimeoutSeconds": config.escalation_timeout_seconds,
    }


def _log_records(path: Path) -> list[dict[str, Any]]:
    """The records of a verified log (``AuditLog.open_existing`` refused an edited one)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
