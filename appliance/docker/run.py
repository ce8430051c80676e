"""`ironcurtain start --agent NAME`: one session with an external agent in a container.

Order of start: check the workspace (before anything is mounted:
`appliance.host.workspace`) → remove what a crashed session left → the key → build or find the image
→ open the session (policy, servers, audit) → credential proxy (holding the real key) → gate socket
and lifeline → container. Teardown runs in the reverse order in `finally` blocks, so a normal end,
an exception, Ctrl-C (once: stop the agent gracefully; twice: kill it) and SIGTERM all remove the
container, both sockets and the runtime folder. A SIGKILLed session's container stops by itself (its
watchdog reads the end of the host's lifeline); its folder is cleaned at the next start.

Exit codes: the agent's own exit status; 2 for a setup problem (no engine, no key, unknown
agent, image build failure, a refused workspace, --pty without a terminal); 3 when the session
stopped itself (audit log failure, budget used up, a dead credential proxy or gate, an
unreachable provider, the disk limit, or a signal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from docker.errors import DockerException

from appliance.credproxy import ProxyStartError
from appliance.docker.adapters import AgentAdapter, adapter_for
from appliance.docker.agent_state import conversation_id, has_conversation, state_dir
from appliance.docker.auth import AUTH_VARIABLE, DockerAuth, choose_auth
from appliance.docker.container import (
    ContainerSpec,
    DockerUnavailable,
    RuntimeDir,
    create_container,
    describe,
    docker_client,
    remove_container,
    remove_stale,
)
from appliance.docker.gate_socket import serve_gate
from appliance.docker.git_guard import (
    Baseline,
    WorkspaceHasGit,
    quarantine_suffix,
    report,
    save_pending,
    sweep_left_behind,
    take_baseline,
)
from appliance.docker.git_watch import GitWatch
from appliance.docker.image import ImageBuildError
from appliance.docker.lifeline import Lifeline
from appliance.docker.metering import UsageMeter
from appliance.docker.ownership import AGENT_UID, lent_workspace
from appliance.docker.package_questions import package_asker
from appliance.docker.supervise import AttachError, DiskWatch, Stop, alive_check, supervise
from appliance.host.processes import pid_alive
from appliance.host.workspace import WorkspaceRefused, check_workspace

__all__ = ["run_agent", "run_docker_session"]

EXIT_SETUP = 2
EXIT_STOPPED = 3
DISK_MAX_GROWTH = 10 * 2**30  # bytes the workspace's filesystem may grow by in one session
DISK_MIN_FREE = 1 * 2**30  # bytes that must stay free on it


async def run_docker_session(
    config: Any,
    paths: Any,
    options: Any,
    *,
    agent: str,
    task: str | None,
    pty: bool,
    model: str | None = None,
) -> int:
    """The lead's entry point for `ironcurtain start --agent AGENT [task] [--pty] [--model M]`."""
    try:
        adapter = adapter_for(agent, model=model)
    except ValueError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return EXIT_SETUP
    if not task and not pty:
        print("ironcurtain: give the agent a task, or attach to it with --pty", file=sys.stderr)
        return EXIT_SETUP
    if pty and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("ironcurtain: --pty needs a terminal (standard input and output are not one); "
              "give the agent a task instead", file=sys.stderr)  # fmt: skip
        return EXIT_SETUP
    return await run_agent(config, paths, options, adapter, task=task, pty=pty)


async def run_agent(
    config: Any,
    paths: Any,
    options: Any,
    adapter: AgentAdapter,
    *,
    task: str | None,
    pty: bool,
    proxy_settings: dict[str, Any] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run `adapter`'s agent for one session. `proxy_settings` adds fields to the credential
    proxy's `ProxyConfig` (tests point the provider at a fake upstream on loopback)."""
    out = out or sys.stdout
    if options.sandbox is not None:
        try:
            workspace = checked_workspace(options.sandbox, paths)
        except WorkspaceRefused as exc:
            print(f"ironcurtain: {exc}", file=sys.stderr)
            return EXIT_SETUP
        options = dataclasses.replace(options, sandbox=workspace)
    prepared = await _prepare(config, paths, adapter)
    if prepared is None:
        return EXIT_SETUP
    client, image, auth = prepared
    options = dataclasses.replace(options, task=task or "", mode=f"docker:{adapter.name}")
    stop = Stop()
    # From here every signal only sets `stop`: the cleanup below always runs. (During the image
    # build, Ctrl-C interrupts as usual: nothing of the session exists yet.)
    with _signals_handled(stop), RuntimeDir() as runtime:
        proxy, meter = _proxy(config, adapter, auth, runtime, proxy_settings or {})
        # The proxy's loosened settings (test upstreams, extra CAs) go into the audit header too.
        options = dataclasses.replace(
            options, extra_weakening=(*options.extra_weakening, *proxy.config.loosening())
        )
        try:
            fake_key = proxy.fake_keys[adapter.provider]

            def launch(state: Path, session_id: str) -> Any:
                # The agent's own conversation: started under an id derived from the session's,
                # continued when its transcript is in the session's agent state (--resume).
                conversation = conversation_id(session_id)
                return adapter.launch(
                    task=task, interactive=pty, fake_key=fake_key, auth=auth.kind,
                    conversation=conversation,
                    resume=_has_conversation(adapter, state, conversation),
                )  # fmt: skip

            return await _session(config, paths, options, proxy, runtime, launch,
                                  _Run(client, image, meter, stop, pty, out, adapter))  # fmt: skip
        except (ValueError, ProxyStartError, DockerException, BaseExceptionGroup) as exc:
            problem = _setup_problem(exc)
            if problem is None:
                raise
            print(f"ironcurtain: {problem}", file=sys.stderr)
            return EXIT_SETUP
        finally:
            meter.close()


def _has_conversation(adapter: AgentAdapter, state: Path, conversation: str) -> bool:
    """The agent's own conversation of this session exists in its state folder (resume it)."""
    check = getattr(adapter, "has_conversation", None)
    return bool(check(state, conversation)) if check else has_conversation(state, conversation)


def _setup_problem(exc: BaseException) -> BaseException | None:
    """The operator's problem inside `exc` (task groups wrap it), or None for anything else:
    a bug keeps its traceback."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_setup_problem(inner) for inner in exc.exceptions]
        return leaves[0] if leaves and all(leaves) else None
    setup = (ProxyStartError, DockerException, AttachError, WorkspaceHasGit)
    return exc if isinstance(exc, setup) or type(exc) is ValueError else None


@dataclasses.dataclass(frozen=True)
class _Run:
    client: Any
    image: str
    meter: UsageMeter
    stop: Stop
    pty: bool
    out: TextIO
    adapter: Any = None


async def _prepare(config: Any, paths: Any, adapter: AgentAdapter) -> tuple | None:
    """An engine (crashed sessions' leftovers removed first, whatever fails next), the real key,
    the image; None (after saying why) when one is missing."""
    try:
        client = await anyio.to_thread.run_sync(docker_client)
        for name in await anyio.to_thread.run_sync(remove_stale, client):
            print(f"ironcurtain: removed {name} (left by a session that ended abnormally)",
                  file=sys.stderr)  # fmt: skip
        # Its container is gone now: the last git sweep such a session never ran.
        await anyio.to_thread.run_sync(sweep_left_behind, paths.sessions, pid_alive)
        try:
            auth = choose_auth(adapter.provider, config.api_key_for(adapter.provider))
        except ValueError as exc:
            print(f"ironcurtain: {exc}", file=sys.stderr)
            return None
        if auth.kind == "oauth":
            print(f"ironcurtain: using the Claude subscription Claude Code is logged in with "
                  f"({auth.credentials}); {AUTH_VARIABLE}=apikey uses an API key instead",
                  file=sys.stderr)  # fmt: skip
        image = await anyio.to_thread.run_sync(adapter.image, client, paths, _progress)
    except (DockerUnavailable, ImageBuildError) as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return None
    return client, image, auth


async def _session(
    config: Any,
    paths: Any,
    options: Any,
    proxy: Any,
    runtime: RuntimeDir,
    make_launch: Callable[[Path, str], Any],
    run: _Run,
) -> int:
    from appliance.session.core import open_session

    async with open_session(config, paths, options) as session:
        run.meter.attach_audit(session.chokepoint.audit)
        proxy.package_asker = package_asker(session)  # packageInstall defaultAction escalate
        if options.task:  # the user's own request: its values are granted for the task, and
            # it is what the auto-approver weighs an escalation against (the --pty prompt's
            # messages replace it, supervise.py)
            # (taskPlan on: after the task planner read it)
            print(await session.chokepoint.grant_planned_task(options.task), file=sys.stderr)
            session.chokepoint.latest_user_message = options.task
        try:
            # The two slow starts overlap: mitmproxy's import and start (seconds, in a thread)
            # and the MCP servers' start (child processes) behind the tool listing.
            proxy_start = _InThread(proxy.start)
            # Started now, before the workspace is lent to the agent's uid (lent_workspace):
            # a confined server opens its root at start and could not do it afterwards.
            await session.servers.start_all()
            infos = await session.servers.all_tools()
            endpoints = await proxy_start.result()
            state = state_dir(Path(session.dir))
            launch = make_launch(state, session.id)
            if _has_conversation(run.adapter, state, conversation_id(session.id)):
                print(f"ironcurtain: continuing the agent's conversation of session {session.id}",
                      file=sys.stderr)  # fmt: skip
            runtime.write_files(launch, endpoints.ca_cert_pem_path)
            mount = getattr(run.adapter, "state_folder", ".claude")
            # Before the agent has the folder: its git metadata, to be mounted read-only.
            git = await anyio.to_thread.run_sync(take_baseline, Path(session.sandbox))
            spec = ContainerSpec(run.image, launch, session.sandbox, runtime.path, session.id,
                                 tty=run.pty, agent_state=state, state_mount=mount,
                                 read_only=git.read_only)  # fmt: skip
            health = [alive_check("the credential proxy", lambda: proxy.alive),
                      lambda: run.meter.reachability.failed]  # fmt: skip
            return await _run_container(spec, session, infos, run, health, git)
        finally:
            await anyio.to_thread.run_sync(proxy.stop)
            _end_of_session(session, run.meter)


def _end_of_session(session: Any, meter: UsageMeter) -> None:
    """The proxy's totals into the audit log and, in one line, to the operator."""
    summary = meter.summary()
    with contextlib.suppress(Exception):  # a broken log already stopped the session, loudly
        session.chokepoint.audit.append(summary)
    events = ", ".join(f"{k} {v}" for k, v in summary["events"].items()) or "none"
    print(f"ironcurtain: usage: {summary['usage']}; proxy events: {events}", file=sys.stderr)


def checked_workspace(sandbox: Path, paths: Any) -> Path:
    """The workspace a user named, resolved, or `WorkspaceRefused` (see `appliance.host.workspace`).
    As root, a workspace lent to the agent's uid by a session that was killed is still accepted."""
    owners = (0, AGENT_UID) if os.getuid() == 0 else (os.getuid(),)
    return check_workspace(
        sandbox, paths.home, protected=paths.protected_patterns(), owners=owners,
        own_sandboxes=paths.sessions,
    )  # fmt: skip


class _InThread:
    """Run `function` in a thread now; `await result()` later returns its value or raises."""

    def __init__(self, function: Any) -> None:
        self._outcome: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
        self._thread.start()

    def _run(self, function: Any) -> None:
        try:
            self._outcome["value"] = function()
        except BaseException as exc:  # handed to the awaiting task, re-raised there
            self._outcome["error"] = exc

    async def result(self) -> Any:
        await anyio.to_thread.run_sync(self._thread.join)
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def _proxy(config: Any, adapter: AgentAdapter, auth: DockerAuth, runtime: RuntimeDir, extra: dict):
    from appliance.credproxy import CredentialProxy, ProxyConfig

    meter = UsageMeter(config.resource_budget)
    secret = (
        {"real_keys": {adapter.provider: auth.key}}
        if auth.kind == "apikey"
        else {"anthropic_oauth": auth.credentials}
    )
    # The same setting that points Code Mode's model calls at a gateway (anthropicBaseUrl...)
    # sends the container's requests there, through the proxy and its key swap.
    gateway = config.base_url_for(adapter.provider)
    if gateway is not None and "gateways" not in extra:
        extra = {**extra, "gateways": {adapter.provider: gateway}}
    install = config.package_install
    if install.enabled and "packages" not in extra:  # npm and PyPI through the package gate
        from appliance.credproxy.config import PackageSettings

        extra = {**extra, "packages": PackageSettings(
            registries=install.registries, allowed_packages=install.allowed_packages,
            denied_packages=install.denied_packages, default_action=install.default_action,
            quarantine_days=install.quarantine_days,
        )}  # fmt: skip
    proxy_config = ProxyConfig(
        providers=(adapter.provider,),
        socket_dir=runtime.proxy_dir,
        **secret,
        **extra,
    )
    proxy = CredentialProxy(
        proxy_config, meter.on_event, budget_check=meter.refusal, budget_admit=meter.admit
    )
    return proxy, meter


async def _run_container(
    spec: ContainerSpec, session: Any, infos: list[Any], run: _Run, health: list[Any],
    git: Baseline,
) -> int:  # fmt: skip
    stop = run.stop
    gate_path = spec.runtime / "mcp.sock"
    disk = DiskWatch(spec.workspace, max_growth=DISK_MAX_GROWTH, min_free=DISK_MIN_FREE)
    health = [*health, alive_check("the gate socket", lambda: _is_socket(gate_path)), disk]
    lent = [spec.workspace]
    if spec.agent_state is not None:  # written by the agent too: the same disk watch
        health.append(
            DiskWatch(spec.agent_state, max_growth=DISK_MAX_GROWTH, min_free=DISK_MIN_FREE)
        )
        lent.append(spec.agent_state)
    async with serve_gate(session, gate_path, stop.request_from_thread, infos):
        with Lifeline(spec.runtime), contextlib.ExitStack() as lending:
            for folder in lent:
                lending.enter_context(lent_workspace(folder))
            RuntimeDir.lend_path(spec.runtime)
            suffix = quarantine_suffix(session.id)
            watch = GitWatch(git, suffix, session.chokepoint.audit.append)
            pending = save_pending(git, Path(session.dir), session.id)
            try:
                container = await anyio.to_thread.run_sync(create_container, run.client, spec)
                print(f"ironcurtain: session {session.id}: {describe(spec)}", file=sys.stderr)
                try:
                    # Every folder watched before the agent's first instruction (a walk).
                    await anyio.to_thread.run_sync(watch.start)
                    status = await supervise(container, session, run.meter, stop, pty=run.pty,
                                             out=run.out, health=health)  # fmt: skip
                finally:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(remove_container, container)
            finally:
                with anyio.CancelScope(shield=True):  # the agent is gone: nothing races this
                    await anyio.to_thread.run_sync(watch.stop)
                    await anyio.to_thread.run_sync(final_sweep, git, suffix, session)
                    pending.unlink(missing_ok=True)
    if stop.reason is not None:
        print(f"ironcurtain: session stopped: {stop.reason}", file=sys.stderr)
        return EXIT_STOPPED
    return status


def final_sweep(git: Baseline, suffix: str, session: Any) -> None:
    """The last sweep, once the container is removed, on every way out (a crash, Ctrl-C, a
    killed container): what the agent left that git would take for a repository is renamed."""

    def audit(record: dict) -> None:
        try:
            session.chokepoint.audit.append(record)
        except Exception as exc:  # a broken log already stopped the session; say it, go on
            print(f"ironcurtain: the quarantine was not audited: {exc}", file=sys.stderr)

    report(git.sweep(suffix, final=True), "at the end of the session", audit)


def _is_socket(path: Path) -> bool:
    return stat.S_ISSOCK(path.lstat().st_mode)


@contextlib.contextmanager
def _signals_handled(stop: Stop):
    """Ctrl-C once asks the agent to stop; twice (or SIGTERM) kills it. Handlers only set flags:
    the supervisor acts on them and every `finally` still runs."""
    previous = {}

    def on_signal(signum: int, _frame: Any) -> None:
        stop.on_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _progress(line: str) -> None:
    print(f"ironcurtain: image: {line}", file=sys.stderr, flush=True)
