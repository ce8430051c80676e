"""``ironcurtain doctor [--json] [--online] [--skip GROUP]``: check the installation, explain each
problem and say how to fix it.

Every check answers ok, warn or fail with a one-line fix. A check is *required* (a failure means a
session would not run, or would run less safely than the user believes) or *optional* (Docker
mode, the first-use caches). Optional checks only ever warn. Exit code 0 only when no required
check failed. A check that crashes fails: the doctor never reports ok for what it could not see.

Doctor only looks: it never compiles the guest, creates the CA or builds an image, and it talks
to a model only with ``--online`` (one tiny completion). Independent groups run concurrently.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from appliance.config.paths import AppPaths, app_paths

__all__ = ["GROUPS", "Check", "Facts", "configure", "run", "run_checks"]

Status = Literal["ok", "warn", "fail", "skip"]
GROUP_TIMEOUT_S = 20.0
SERVER_START_TIMEOUT_S = 10.0
# Below this a session's audit log may fail to write, and a failed audit write stops the session.
MIN_FREE_BYTES = 200 * 2**20
LOW_FREE_BYTES = 2 * 2**30
# "\0asm", then the component model's layer and version (a core module has 01 00 00 00).
_COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"


@dataclass(frozen=True)
class Check:
    name: str
    required: bool
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Facts:
    """What every check may read: gathered once, before the checks run."""

    paths: AppPaths
    config: Any  # appliance.config.settings.Config, the defaults when the file does not load
    config_error: str | None
    online: bool


def ok(name: str, detail: str, *, required: bool = True) -> Check:
    return Check(name, required, "ok", detail)


def warn(name: str, detail: str, fix: str, *, required: bool = False) -> Check:
    return Check(name, required, "warn", detail, as_installed(fix))


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, True, "fail", detail, as_installed(fix))


# A command in a fix: `ironcurtain SUBCOMMAND` or `python -m MODULE`, where a word starts.
_OUR_COMMAND = re.compile(r"(?<![\w/.-])(?:ironcurtain(?= [a-z])|python(?= -m ))")


def as_installed(fix: str) -> str:
    """A fix the user can paste as it is: its commands spelled the way this copy is run."""
    ironcurtain, python = invocation()
    return _OUR_COMMAND.sub(lambda m: ironcurtain if m[0] == "ironcurtain" else python, fix)


@functools.cache
def invocation() -> tuple[str, str]:
    """How this copy of the appliance is run, and how its Python is: a frozen build by its own
    path unless that is what PATH finds; a source checkout through uv (`uv run ironcurtain`, as
    the README says) unless its venv is active; an installed package as `ironcurtain`."""
    on_path = shutil.which("ironcurtain")
    found = Path(on_path).resolve() if on_path else None
    if getattr(sys, "frozen", False):
        me = Path(sys.executable).resolve()
        return ("ironcurtain" if found == me else str(me)), "python3"
    checkout = Path(__file__).resolve().parents[2]
    in_checkout = (checkout / "pyproject.toml").is_file() and (checkout / "uv.lock").is_file()
    # Started by `uv run` (which puts the venv on PATH for this process only), or the checkout's
    # command is not what PATH finds: the user's shell needs uv to reach it.
    through_uv = "UV_RUN_RECURSION_DEPTH" in os.environ
    if in_checkout and (through_uv or not (found and found.is_relative_to(checkout))):
        return "uv run ironcurtain", "uv run python"
    return "ironcurtain", "python"


# --- runtime and sandbox ------------------------------------------------------------------------


def check_runtime(facts: Facts) -> list[Check]:
    found = ".".join(map(str, sys.version_info[:3]))
    checks = [
        ok("python", f"Python {found}")
        if sys.version_info >= (3, 13)
        else fail("python", f"Python {found}; the appliance needs 3.13", "install Python 3.13")
    ]
    try:
        import appliance.sandbox.engine  # noqa: F401 - loads wasmtime's native library, the test

        checks.append(ok("wasmtime", f"wasmtime {version('wasmtime')}"))
    except (ImportError, OSError, PackageNotFoundError) as exc:
        detail = f"wasmtime does not load: {type(exc).__name__}: {exc}"[:240]
        checks.append(fail("wasmtime", detail, "reinstall ironcurtain (wasmtime 50)"))
    return checks


def check_guest(facts: Facts) -> list[Check]:
    from appliance.sandbox.sandbox import default_guest_path

    wasm = default_guest_path()
    overridden = "IRONCURTAIN_GUEST_WASM" in os.environ
    build_fix = "python -m wasm_guest.build" + (" (or fix the variable)" if overridden else "")
    if not wasm.is_file():
        where = "IRONCURTAIN_GUEST_WASM names" if overridden else "expected at"
        return [fail("guest", f"sandbox guest missing: {where} {wasm}", build_fix)]
    if not overridden and not getattr(sys, "frozen", False):
        from wasm_guest.build import is_current

        if not is_current(wasm.parent):
            return [fail("guest", f"{wasm} is older than its sources", build_fix)]
    data = wasm.read_bytes()
    if data[:8] != _COMPONENT_HEADER:
        detail = f"{wasm} is not a WebAssembly component (header {data[:8].hex()})"
        return [fail("guest", detail, build_fix)]
    return [ok("guest", f"{wasm} ({len(data) / 2**20:.1f} MiB)"), _guest_cache(facts, data)]


def _guest_cache(facts: Facts, wasm: bytes) -> Check:
    from appliance.sandbox.engine import cache_key

    key = cache_key(hashlib.sha256(wasm).hexdigest())
    entry = facts.paths.cache / "sandbox" / f"guest-{key}.cwasm"
    fix = "run `echo 'print(1)' | ironcurtain exec -` once to compile it (~10 s)"
    try:
        expected = entry.with_suffix(".sha256").read_text(encoding="ascii").strip()
        actual = hashlib.sha256(entry.read_bytes()).hexdigest()
    except FileNotFoundError:
        return warn("guest-cache", f"no compiled guest at {entry}: the first run compiles", fix)
    except (OSError, UnicodeDecodeError) as exc:
        return warn("guest-cache", f"cannot read {entry}: {exc}", fix)
    if expected != actual:
        return warn("guest-cache", f"{entry} does not match its digest: it will be rebuilt", fix)
    return ok("guest-cache", f"compiled guest cached at {entry}", required=False)


# --- configuration and provider key -------------------------------------------------------------


def check_config(facts: Facts) -> list[Check]:
    file = facts.paths.config_file
    if facts.config_error:
        # `config set` and `setup` refuse to touch a file they cannot read (nothing is lost), so
        # the only fixes are the file itself, or moving it away.
        fix = f"edit {file} where the error points, or move it away and run `ironcurtain setup`"
        return [fail("config", facts.config_error.replace("\n", "; "), fix)]
    checks = [ok("config", f"{file}" if file.exists() else "no config.json: the defaults apply")]
    if file.exists() and file.stat().st_mode & 0o077:
        checks.append(_loose_mode(facts.config, file))
    checks.append(_provider_key(facts))
    if facts.online and checks[-1].status == "ok":
        checks.append(_online(facts))
    from appliance.cli.github_token import check_github

    checks += check_github(facts.config, facts.online, {"ok": ok, "warn": warn, "fail": fail})
    return checks + _side_settings(facts.config)


def _loose_mode(config: Any, file: Path) -> Check:
    """Others can read config.json: a failure when it holds a key, else a warning."""
    from appliance.config.settings import is_secret_path

    mode, fix = oct(file.stat().st_mode & 0o777), f"chmod 600 {file}"
    keys = [p for p, source in config.sources.items() if source == "file" and is_secret_path(p)]
    if keys:
        return fail("config-mode", f"{file} has mode {mode} and holds {', '.join(keys)}", fix)
    return warn("config-mode", f"{file} has mode {mode} (no keys in it yet)", fix, required=True)


def _side_settings(config: Any) -> list[Check]:
    """Settings that work but not as the user may think: each is a warning."""
    from appliance.config.settings import PROVIDER_ENV, weakening_settings

    checks = []
    approver = config.auto_approve
    provider = approver.model_id.partition(":")[0]
    local = provider == "openai" and config.openai_base_url
    if approver.enabled and not (config.api_key_for(provider) or local):
        detail = f"autoApprove is on but there is no {provider} key: every escalation asks you"
        variable = PROVIDER_ENV.get(provider, "its key")
        fix = f"export {variable}, or `ironcurtain config set autoApprove.enabled false`"
        checks.append(warn("auto-approve-key", detail, fix))
    search = config.web_search
    if search.provider and search.api_key is None:
        detail = f"webSearch.provider is {search.provider} but webSearch.apiKey is not set"
        checks.append(warn("web-search-key", detail, "ironcurtain config set webSearch.apiKey"))
    loosened = weakening_settings(config)
    if loosened:
        detail = f"{len(loosened)} setting(s) loosen the defaults: " + " ".join(loosened)
        checks.append(warn("loosened", detail, "ironcurtain config unset FIELD (if unintended)"))
    return checks


def _provider_key(facts: Facts) -> Check:
    from appliance.agent.code_session import MissingKey, model_settings
    from appliance.config.settings import PROVIDER_ENV

    config = facts.config
    provider = config.agent_provider
    try:
        settings = model_settings(config)
    except MissingKey:
        variable = PROVIDER_ENV.get(provider, "the provider's key variable")
        detail = f"no API key for {provider} ({variable} unset, none in config.json)"
        return fail("provider-key", detail, f"export {variable}, or run `ironcurtain setup`")
    source = config.sources.get(f"{provider}ApiKey", "default")
    where = f"key from {source}" if settings.api_key else f"no key, base URL {settings.api_base}"
    return ok("provider-key", f"{config.agent_model_id}: {where}")


def _online(facts: Facts) -> Check:
    """One tiny completion; only with --online. The error text is litellm's, never the key."""
    from appliance.agent.code_session import model_settings
    from appliance.agent.loop import litellm_model

    settings = model_settings(facts.config)
    started = time.perf_counter()
    try:
        import litellm

        litellm.suppress_debug_info = True  # else it prints help banners into --json output
        with contextlib.redirect_stdout(sys.stderr):
            litellm.completion(
                model=litellm_model(settings.model_id),
                messages=[{"role": "user", "content": "Reply with: ok"}],
                max_tokens=1,
                api_key=settings.api_key,
                api_base=settings.api_base,
                timeout=15,
                num_retries=0,
            )
    except Exception as exc:  # any failure of the call is the finding
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return fail("provider-online", first, "check the key, the model id and the network")
    elapsed = time.perf_counter() - started
    return ok("provider-online", f"{settings.model_id} answered in {elapsed:.1f} s")


# --- policy -------------------------------------------------------------------------------------


def check_policy(facts: Facts) -> list[Check]:
    from appliance.session.core import policy_dir_for
    from policy.loader import load_policy
    from policy.models import PolicyLoadError

    folder = policy_dir_for(facts.paths)
    user = folder == facts.paths.generated
    if not user and facts.paths.generated.is_dir() and any(facts.paths.generated.iterdir()):
        detail = f"{facts.paths.generated} has no compiled-policy.json: it is ignored"
        ignored = warn("policy-user-dir", detail, "ironcurtain compile-policy", required=True)
    else:
        ignored = None
    try:
        policy = load_policy(folder)
    except PolicyLoadError as exc:
        fix = f"fix or delete {folder} (the shipped policy then applies)" if user else "reinstall"
        return [fail("policy", str(exc), fix)]
    which = "your compiled policy" if user else "the shipped policy"
    checks = [
        ok("policy", f"{which} in {folder}: {len(policy.rules)} rules"),
        _freshness(facts, folder, user),
        _scenarios(policy, folder),
        _git_guard(policy),
    ]
    return checks if ignored is None else [ignored, *checks]


def _freshness(facts: Facts, folder: Path, user: bool) -> Check:
    """The policy was compiled from the constitution in force today (``compile-policy`` records
    ``digest_of`` the full text; a handwritten policy may record the file's plain SHA-256)."""
    from appliance.cli.compile_cmd import constitution_text
    from appliance.host.bundle import resource_path
    from policy.compiler.cache import digest_of

    paths, fix = facts.paths, "ironcurtain compile-policy"
    mine = [p for p in (paths.constitution, paths.user_constitution) if p.is_file()]
    if not user and mine:
        names = " and ".join(p.name for p in mine)
        return fail(
            "policy-fresh", f"your {names} is not compiled: the shipped policy applies", fix
        )
    base = paths.constitution if user and paths.constitution.is_file() else None
    base = base or resource_path("policy/constitution.md")
    additions = user and paths.user_constitution.is_file()
    sources = [base, *([paths.user_constitution] if additions else [])]
    text = constitution_text(paths) if user else base.read_text(encoding="utf-8")
    accepted = {digest_of(text)}
    if not additions:
        accepted.add(hashlib.sha256(base.read_bytes()).hexdigest())
    compiled = json.loads((folder / "compiled-policy.json").read_text(encoding="utf-8"))
    recorded = compiled.get("constitutionHash")
    described = " + ".join(str(p) for p in sources)
    if not recorded:
        return warn("policy-fresh", "compiled-policy.json records no constitutionHash", fix)
    if recorded not in accepted:
        detail = f"compiled from another constitution than {described} (hash {recorded[:12]})"
        return fail("policy-fresh", detail, fix)
    return ok("policy-fresh", f"matches {described}")


def _scenarios(policy: Any, folder: Path) -> Check:
    from appliance.cli.policy_cmd import _protected_for
    from policy.scenarios import load_scenarios, replay

    file = folder / "test-scenarios.json"
    if not file.is_file():
        return warn("policy-scenarios", f"no {file.name} in {folder}", "ironcurtain compile-policy")
    results = replay(load_scenarios(file), policy, _protected_for)
    failed = [r.scenario.description for r in results if not r.passed]
    if failed:
        detail = f"{len(failed)} of {len(results)} scenarios fail, first: {failed[0]}"
        return fail("policy-scenarios", detail, f"ironcurtain policy test --policy-dir {folder}")
    return ok("policy-scenarios", f"{len(results)} scenarios pass")


# Writes into a sandbox repository's own files (hooks, config, attributes decide what git runs).
_GUARD_SANDBOX = "/home/user/.ironcurtain/sessions/doctor/sandbox"
_GIT_GUARD_PROBES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("write_file", {"path": f"{_GUARD_SANDBOX}/repo/.git/hooks/pre-commit", "content": "x"}),
    ("write_file", {"path": f"{_GUARD_SANDBOX}/repo/.git/config", "content": "x"}),
    ("write_file", {"path": f"{_GUARD_SANDBOX}/.git/info/attributes", "content": "x"}),
    (
        "edit_file",
        {
            "path": f"{_GUARD_SANDBOX}/repo/.git/config",
            "edits": [{"oldText": "[core]", "newText": "[core]\n\tfsmonitor = ./run"}],
        },
    ),
    (
        "move_file",
        {
            "source": f"{_GUARD_SANDBOX}/payload.sh",
            "destination": f"{_GUARD_SANDBOX}/repo/.git/hooks/post-checkout",
        },
    ),
)


def _git_guard(policy: Any) -> Check:
    """No filesystem write into a repository's ``.git`` is allowed without asking."""
    from policy.engine import evaluate
    from policy.models import EvalContext, ToolCall
    from policy.paths import lexical

    context = EvalContext(sandbox=_GUARD_SANDBOX, home="/home/user", resolve_path=lexical)
    probed, allowed = 0, []
    for tool, arguments in _GIT_GUARD_PROBES:
        if policy.plan_for("filesystem", tool) is None:
            continue
        probed += 1
        call = ToolCall(server="filesystem", tool=tool, arguments=arguments)
        decision = evaluate(call, policy, context)
        if decision.decision == "allow":
            target = arguments.get("destination", arguments.get("path"))
            allowed.append(f"{tool} {target.removeprefix(_GUARD_SANDBOX + '/')} ({decision.rule})")
    if allowed:
        detail = "allowed without asking: " + "; ".join(allowed)
        return fail("policy-git-guard", detail, "remove the allowing rule and recompile")
    return ok("policy-git-guard", f"{probed} writes into a repository's .git/ are not allowed")


# --- MCP servers --------------------------------------------------------------------------------


def check_servers(facts: Facts) -> list[Check]:
    import anyio

    with tempfile.TemporaryDirectory(prefix="ironcurtain-doctor-") as sandbox:
        return anyio.run(_list_tools, facts, Path(sandbox))


async def _list_tools(facts: Facts, sandbox: Path) -> list[Check]:
    import anyio

    from appliance.chokepoint.server_pool import ServerPool
    from appliance.session.core import server_specs

    specs = server_specs(facts.config, sandbox)
    found: dict[str, Check] = {}

    async def probe(pool: ServerPool, name: str) -> None:
        name_of = f"server:{name}"
        try:
            tools = await pool.tools(name)
        except Exception as exc:  # the finding: this server does not start
            cause = _innermost(exc.__cause__ or exc)
            detail = f"does not start or list its tools: {type(cause).__name__}: {cause}"[:240]
            fix = f"run `ironcurtain serve {name}` by hand and read its error output"
            found[name] = fail(name_of, detail, fix)
            return
        found[name] = ok(name_of, f"{len(tools)} tools")

    pool = ServerPool(specs, start_timeout_s=SERVER_START_TIMEOUT_S)
    async with pool, anyio.create_task_group() as group:
        for spec in specs:
            group.start_soon(probe, pool, spec.name)
    return [found[spec.name] for spec in specs]


def check_confinement(facts: Facts) -> list[Check]:
    """The kernel's confinement features, and each server's effective profile for a session."""
    from appliance.confinement import ConfinementRefused, ProfileError, plan_for, probe
    from appliance.confinement.describe import describe_features, describe_plan
    from appliance.session.core import server_specs

    features = probe()
    missing = features.missing(needs_network_namespace=True)
    summary = describe_features(features)
    best_effort = facts.config.confinement == "best-effort"
    if not missing:
        checks = [ok("confinement:kernel", summary)]
    elif best_effort:
        detail = f"{summary}; missing: {'; '.join(missing)}"
        checks = [warn("confinement:kernel", detail, _KERNEL_FIX, required=True)]
    else:
        detail = f"servers will not start: {'; '.join(missing)}"
        checks = [fail("confinement:kernel", detail, f"{_KERNEL_FIX}; or {_BEST_EFFORT}")]
    if root_warning := features.root_process_cap_warning():
        checks.append(warn("confinement:processes", root_warning, "run as an ordinary user"))
    with tempfile.TemporaryDirectory(prefix="ironcurtain-doctor-") as sandbox:
        for spec in server_specs(facts.config, Path(sandbox)):
            name = f"confinement:{spec.name}"
            try:
                plan = plan_for(spec.name, list(spec.args))
            except (ConfinementRefused, ProfileError) as exc:
                fix = "narrow allowedDirectories (no home folder, no credential folder)"
                checks.append(fail(name, str(exc), fix))
                continue
            checks.append(ok(name, describe_plan(plan).replace(sandbox, "$SANDBOX")))
    return checks


_KERNEL_FIX = (
    "use Linux 6.12+ with Landlock enabled (lsm=...,landlock), seccomp and user namespaces"
)
_BEST_EFFORT = 'set "confinement": "best-effort" in config.json to run with less (audited)'


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of nested task-group errors: the one that says what happened."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


# --- Docker mode, credential proxy CA, disk -----------------------------------------------------


def check_docker(facts: Facts) -> list[Check]:
    fix = "only Docker Agent Mode needs it: install and start the Docker engine"
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # unreachable for whatever reason: Code Mode does not care
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        return [warn("docker", f"Docker engine not reachable: {reason}", fix)]
    checks = [ok("docker", f"engine {client.version().get('Version', '?')}", required=False)]
    return [*checks, _agent_image(client)]


def _agent_image(client: Any) -> Check:
    from appliance.docker.agent_image import CLAUDE_CODE_RECIPE

    tag = CLAUDE_CODE_RECIPE.tag()
    fix = "built on the first `ironcurtain start --agent claude-code` (as root, ~3 min)"
    repository = tag.partition(":")[0]
    names = [t for image in client.images.list(name=repository) for t in image.tags]
    if tag in names:
        return ok("agent-image", tag, required=False)
    if names:
        return warn("agent-image", f"only older builds ({', '.join(sorted(names)[:2])})", fix)
    return warn("agent-image", f"{tag} is not built", fix)


def check_ca(facts: Facts) -> list[Check]:
    folder = facts.paths.home / "ca"
    key = folder / "mitmproxy-ca.pem"
    if not key.exists():
        detail = f"no proxy CA in {folder}: created on the first Docker session"
        return [warn("proxy-ca", detail, "nothing to do", required=True)]
    info = key.lstat()
    if not key.is_file() or key.is_symlink():
        return [fail("proxy-ca", f"{key} is not a regular file", f"delete {folder} to renew it")]
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        detail = (
            f"{key} (the CA's private key) has mode {oct(info.st_mode & 0o777)}, uid {info.st_uid}"
        )
        return [fail("proxy-ca", detail, f"chmod 600 {key} (or delete {folder} to renew it)")]
    return [ok("proxy-ca", f"{key}, mode 0600")]


def check_permissions(facts: Facts) -> list[Check]:
    """Whoever can write the home's policy files decides what the agent may do."""
    from policy.loader import POLICY_FILES

    paths = facts.paths
    watched = (
        paths.home,
        paths.generated,
        *(paths.generated / name for name in (*POLICY_FILES, "test-scenarios.json")),
        paths.constitution,
        paths.user_constitution,
        paths.sessions,
    )
    loose = []
    for path in watched:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            loose.append(f"{path} (mode {oct(info.st_mode & 0o777)}, uid {info.st_uid})")
    if loose:
        detail = "writable by others or not yours: " + "; ".join(loose)
        return [fail("permissions", detail, "chmod go-w (and chown) each path named")]
    return [ok("permissions", f"{paths.home} and its policy files are yours alone to write")]


def check_disk(facts: Facts) -> list[Check]:
    folder = facts.paths.sessions
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    detail = f"{free / 2**30:.1f} GiB free in {folder}"
    fix = "free space, or `ironcurtain sessions clean --older-than 30d`"
    if free < MIN_FREE_BYTES:
        return [fail("disk", detail + " (a session's audit log needs room)", fix)]
    if free < LOW_FREE_BYTES:
        return [warn("disk", detail, fix, required=True)]
    return [ok("disk", detail)]


# --- running and reporting ----------------------------------------------------------------------

GROUPS: dict[str, Callable[[Facts], list[Check]]] = {
    "runtime": check_runtime,
    "guest": check_guest,
    "config": check_config,
    "policy": check_policy,
    "servers": check_servers,
    "confinement": check_confinement,
    "docker": check_docker,
    "ca": check_ca,
    "permissions": check_permissions,
    "disk": check_disk,
}
_SHARED_MODULES = (
    "appliance.sandbox.sandbox",
    "appliance.session.core",
    "appliance.agent.code_session",
    "appliance.cli.policy_cmd",
    "policy.scenarios",
    "httpx",
    "requests",
)
_REQUIRED = {
    "runtime",
    "guest",
    "config",
    "policy",
    "servers",
    "confinement",
    "ca",
    "permissions",
    "disk",
}


def gather_facts(paths: AppPaths | None = None, *, online: bool = False) -> Facts:
    from appliance.config.settings import Config, ConfigError, load_config

    paths = paths or app_paths()
    try:
        return Facts(paths, load_config(paths), None, online)
    except ConfigError as exc:
        return Facts(paths, Config(), str(exc), online)


def run_checks(
    facts: Facts, skip: frozenset[str] = frozenset(), timeout_s: float = GROUP_TIMEOUT_S
) -> list[Check]:
    """Every group not skipped, concurrently; the results in the order of ``GROUPS``."""
    _preload()
    probes = {name: _Probe(GROUPS[name], facts) for name in GROUPS if name not in skip}
    deadline = time.monotonic() + timeout_s
    for probe in probes.values():
        probe.join(max(0.0, deadline - time.monotonic()))
    results: list[Check] = []
    for name in GROUPS:
        if name in skip:
            results.append(Check(name, name in _REQUIRED, "skip", "skipped (--skip)"))
        else:
            results.extend(probes[name].outcome(name, timeout_s))
    return results


def _preload() -> None:
    """Import what several groups share before the threads start.

    Two threads importing one package whose modules import each other can deadlock (Python
    then raises ``_DeadlockError`` in one of them), and a failed import reads as a broken
    installation. Each group's own heavy import (mcp, docker, litellm) stays in its thread.
    """
    for module in _SHARED_MODULES:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: S112 - the group that needs it imports it again and reports
            continue


class _Probe(threading.Thread):
    """One group in a daemon thread: a probe that hangs can neither hang nor outlive the doctor."""

    def __init__(self, group: Callable[[Facts], list[Check]], facts: Facts) -> None:
        super().__init__(name=f"doctor-{group.__name__}", daemon=True)
        self._group, self._facts = group, facts
        self.checks: list[Check] | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.checks = self._group(self._facts)
        except BaseException as exc:  # reported by outcome(): a crashed check fails
            self.error = exc

    def outcome(self, name: str, timeout_s: float) -> list[Check]:
        fix = "run `ironcurtain doctor` again; report a bug if it persists"
        if self.is_alive():
            return [fail(name, f"no answer within {timeout_s:g} s", fix)]
        if self.error is not None or self.checks is None:
            # Fail closed: a check that could not look has not seen ok.
            detail = f"the check itself failed: {type(self.error).__name__}: {self.error}"
            return [fail(name, detail[:300], fix)]
        return self.checks


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--online", action="store_true", help="also make one tiny call to the agent's model"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=sorted(GROUPS),
        metavar="GROUP",
        help=f"leave out a group of checks (repeatable): {', '.join(GROUPS)}",
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    checks = run_checks(gather_facts(online=args.online), frozenset(args.skip))
    healthy = not any(c.required and c.status == "fail" for c in checks)
    if args.json:
        payload = {
            "ok": healthy,
            "seconds": round(time.perf_counter() - started, 2),
            "checks": [asdict(c) for c in checks],
        }
        print(json.dumps(payload, indent=2))
    else:
        _print_human(checks, healthy, time.perf_counter() - started)
    return 0 if healthy else 1


def _print_human(checks: list[Check], healthy: bool, seconds: float) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        label = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}[c.status]
        kind = "required" if c.required else "optional"
        fix = f"  -> fix: {c.fix}" if c.fix and c.status in ("warn", "fail") else ""
        print(f"{label:<4}  {c.name:<{width}}  ({kind})  {c.detail}{fix}")
    failed = sum(c.required and c.status == "fail" for c in checks)
    verdict = "all required checks pass" if healthy else f"{failed} required check(s) FAILED"
    print(f"\n{verdict} ({seconds:.1f} s)")
