"""The appliance's boundary rules, as data: who may import what, and who may start processes.

One place, read by ``test_boundaries.py`` and drawn in ``docs/architecture.md``. A rule names the
modules it governs (``where``: module-name prefixes; ``except_where`` carves a part out), the
imports they may not make (``forbidden``: prefixes of imported names, or ``PROCESS`` for the
ways to start a process) and the exceptions it grants, each with the reason it is safe. A prefix
``a.b`` matches ``a.b`` and ``a.b.*``. An exception is a module (or prefix) plus a reason; an
exception that no longer excuses anything fails the test too, so the list cannot go stale.
``PENDING`` lists violations another issue is removing: they are reported, not failed, while
they exist, and fail once fixed so the entry is removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the packages walked; tests, docs and the build output are not part of the appliance
ROOTS = ("appliance", "policy", "servers", "wasm_guest", "packaging")

#: marker for "starts a process": subprocess, pty, multiprocessing, os.exec*/spawn*/fork/
#: posix_spawn/system/popen, asyncio.create_subprocess_*, loop.subprocess_*, anyio.open_process/
#: run_process (see test_boundaries.process_uses)
PROCESS = "<starts a process>"

#: marker for ``importlib.import_module(name)`` / ``__import__(name)`` with a name computed at run
#: time (a literal name is checked like any import)
DYNAMIC = "<dynamic import>"

HOST = "appliance"
SERVER_IMPLEMENTATIONS = ("servers.filesystem", "servers.git", "servers.fetch")
POLICY_PRIVATE = (
    "policy.engine", "policy.loader", "policy.models", "policy.paths", "policy.roles",
    "policy.rules", "policy.domains", "policy.scenarios", "policy.schema", "policy.safe_json",
    "policy.compiler.annotate", "policy.compiler.artifacts", "policy.compiler.cache",
    "policy.compiler.customize", "policy.compiler.diff", "policy.compiler.errors",
    "policy.compiler.install", "policy.compiler.lists", "policy.compiler.llm",
    "policy.compiler.pipeline", "policy.compiler.reannotate", "policy.compiler.replay",
    "policy.compiler.rules", "policy.compiler.scenarios", "policy.compiler.verify",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """``where`` may not import ``forbidden``, except the modules in ``exceptions``."""

    id: str
    sentence: str
    where: tuple[str, ...]
    forbidden: tuple[str, ...]
    except_where: tuple[str, ...] = ()
    exceptions: dict[str, str] = field(default_factory=dict)


RULES: tuple[Rule, ...] = (
    Rule(
        "policy-is-pure",
        "the policy package (engine and compiler) never imports the host or the servers",
        where=("policy",),
        forbidden=("appliance", "servers", "wasm_guest", "packaging"),
    ),
    Rule(
        "policy-core-not-compiler",
        "the pure policy core never imports the compiler (which does I/O and calls an LLM)",
        where=("policy",),
        except_where=("policy.compiler",),
        forbidden=("policy.compiler",),
    ),
    Rule(
        "policy-facade",
        "code outside policy imports the engine only through policy.api and the compiler only"
        " through policy.compiler.api",
        where=("appliance", "servers", "wasm_guest", "packaging"),
        forbidden=POLICY_PRIVATE,
        exceptions={
            "servers.wire.server": "the wire parses every request with policy.safe_json and"
            " checks arguments with policy.schema: two stdlib-only leaf modules (rule"
            " wire-leaves-are-stdlib holds them so), so a server parses exactly as the engine"
            " does without loading the engine; policy.api would load it lazily but the"
            " direct import keeps a server's start free of pydantic",
            "servers.wire.client": "bounds a server's message by policy.safe_json's value count"
            " (values_over_limit, MAX_VALUES), the one every entry point uses: a stdlib-only leaf",
        },
    ),
    Rule(
        "servers-stand-alone",
        "the MCP servers never import the host, the policy engine or the guest",
        where=("servers",),
        forbidden=("appliance", "policy", "wasm_guest", "packaging"),
        exceptions={
            "servers.wire.server": "policy.safe_json and policy.schema only (see policy-facade)",
            "servers.wire.client": "policy.safe_json only (see policy-facade)",
        },
    ),
    Rule(
        "servers-apart",
        "one server implementation never imports another; all share only servers.wire",
        where=SERVER_IMPLEMENTATIONS,
        forbidden=(),  # filled per server by the test: each forbids the two others
        exceptions={
            "servers.git.tools_remote": "checks a remote's URL with servers.fetch.addresses"
            " (check_url, system_resolver): one address allowlist against private and"
            " loopback hosts for both servers, not two that could drift",
        },
    ),
    Rule(
        "host-talks-wire-only",
        "the host never imports a server implementation (servers.filesystem, servers.git,"
        " servers.fetch) — it reaches servers only over stdio through servers.wire",
        where=(HOST,),
        forbidden=SERVER_IMPLEMENTATIONS,
        exceptions={
            "appliance.cli.policy_cmd": "`ironcurtain policy check` reads the shipped servers'"
            " input schemas in memory (builtin_schemas: no tool runs, no process); an offline"
            " operator command, never on a session's path",
        },
    ),
    Rule(
        "guest-not-at-run-time",
        "the host never imports the WebAssembly guest package at run time, except its build"
        " entry through appliance.sandbox.guest",
        where=(HOST, "policy", "servers"),
        forbidden=("wasm_guest",),
        exceptions={
            "appliance.sandbox.guest": "the named build entry: builds a source checkout's"
            " guest when stale and answers doctor's freshness question (wasm_guest.build only)",
        },
    ),
    Rule(
        "only-sandbox-wasmtime",
        "only appliance.sandbox imports wasmtime",
        where=ROOTS,
        except_where=("appliance.sandbox",),
        forbidden=("wasmtime",),
    ),
    Rule(
        "only-credproxy-mitmproxy",
        "only appliance.credproxy imports mitmproxy",
        where=ROOTS,
        except_where=("appliance.credproxy",),
        forbidden=("mitmproxy",),
    ),
    Rule(
        "only-model-callers-litellm",
        "only the agent loop and the policy compiler import litellm (the auto-approver and the"
        " task planner call it through the agent loop's complete_once)",
        where=ROOTS,
        except_where=(
            "appliance.agent.loop",
            "policy.compiler.llm",
        ),
        forbidden=("litellm",),
        exceptions={
            "appliance.docker.metering": "prices tokens with litellm's local cost map"
            " (cost_per_token, no network call); Docker mode's model calls go through the"
            " agent's own client, never through litellm",
            "appliance.cli.doctor.config": "`doctor --online` makes one tiny completion with the"
            " configured model, the same client call the agent loop makes",
        },
    ),
    Rule(
        "only-audit-export-otel",
        "only the audit's exporter imports OpenTelemetry",
        where=ROOTS,
        except_where=("appliance.chokepoint.audit.export",),
        forbidden=("opentelemetry",),
    ),
    Rule(
        "only-servers-mcp-sdk",
        "only servers/ import the MCP SDK (the host speaks MCP through servers.wire)",
        where=ROOTS,
        except_where=("servers",),
        forbidden=("mcp",),
    ),
    Rule(
        "named-dynamic-imports",
        "only named modules import a module whose name is computed at run time",
        where=ROOTS,
        forbidden=(DYNAMIC,),
        exceptions={
            "policy.api": "the façade's lazy names: its _HOME table names policy modules only",
            "policy.compiler.api": "the compiler façade's lazy names (policy.compiler modules)",
            "appliance.cli.main": "dispatch: the command table names appliance.cli modules",
            "appliance.cli.completion": "the same command table, for shell completion",
            "appliance.cli.doctor.groups": "imports _SHARED_MODULES before its threads start",
            "wasm_guest.guest": "runs only inside the WebAssembly sandbox: these are the agent's"
            " own imports, answered by the guest's stdlib allowlist (ic_stdlib), with no host"
            " module to reach",
            "appliance.cli.serve": "`ironcurtain serve NAME` *becomes* that server's process: the"
            " one place a server implementation is imported, in the server's own confined"
            " process, never in the host's",
        },
    ),
    Rule(
        "named-process-runners",
        "only named runner modules start processes",
        where=ROOTS,
        forbidden=(PROCESS,),
        exceptions={
            "servers.wire.client": "starts each MCP server (argv from the host, no shell)",
            "servers.git.runner": "the hardened git runner: fixed environment, no shell",
            "servers.git.far_side": "git's stand-in /bin/sh: executes the parsed far-side words"
            " of a local transport (git through prlimit), never a shell",
            "appliance.cli.confine": "`ironcurtain confine`: executes a declared server's own"
            " command after confining itself (the command comes from the user's config)",
            "appliance.cli.servers_cmd": "`servers annotate --edit` opens the user's $EDITOR",
            "appliance.cli.github_token": "`gh auth token` at setup, only when the user says yes",
            "appliance.host.runner": "one-shot host tools (the demo's `git init --bare`)",
            "appliance.agent.model_worker": "the session's model client: this same executable"
            " with `__model-worker`, fixed argv, no shell, started in /",
            "appliance.daemon.job_runs": "a scheduled job's run: `ironcurtain start --job NAME`"
            " from this same executable, fixed argv, no shell, stdin closed",
            "appliance.docker.image": "runs the docker CLI to build and inspect images",
            "appliance.docker.agent_image": "runs the docker CLI to build the agent image",
            "wasm_guest.build": "build time: componentize-py builds the guest",
            "packaging.build": "build time: PyInstaller and the guest build",
            "packaging.smoke": "build time: runs the built executable to test it",
        },
    ),
)

#: The host's own layering, as an allowlist: each appliance package may import only the packages
#: named here (besides itself, ``appliance`` and ``appliance.errors``, which import nothing).
#: The CLI is the top and may import every part; nothing imports the CLI.
APPLIANCE_PACKAGES = (
    "appliance.agent", "appliance.chokepoint", "appliance.cli", "appliance.config",
    "appliance.confinement", "appliance.credproxy", "appliance.daemon", "appliance.docker",
    "appliance.host", "appliance.sandbox", "appliance.session",
)  # fmt: skip
APPLIANCE_LAYERS: dict[str, tuple[str, ...]] = {
    "appliance.host": (),
    "appliance.confinement": (),
    "appliance.config": ("appliance.host", "appliance.confinement"),
    # confinement: the server pool moves a root server into its pids cgroup as it starts
    "appliance.chokepoint": ("appliance.config", "appliance.confinement", "appliance.host"),
    "appliance.session": ("appliance.chokepoint", "appliance.config", "appliance.host"),
    "appliance.sandbox": ("appliance.chokepoint", "appliance.config", "appliance.host"),
    "appliance.agent": (
        "appliance.chokepoint",
        "appliance.config",
        "appliance.host",
        "appliance.sandbox",
        "appliance.session",
    ),
    "appliance.credproxy": ("appliance.config", "appliance.host"),
    "appliance.docker": (
        "appliance.chokepoint",
        "appliance.config",
        "appliance.credproxy",
        "appliance.host",
        "appliance.session",
    ),
    # the daemon answers escalations through the chokepoint's files and reads sessions' audit
    "appliance.daemon": (
        "appliance.chokepoint",
        "appliance.config",
        "appliance.host",
        "appliance.session",
    ),
    "appliance.cli": APPLIANCE_PACKAGES,
}
LAYER_EXCEPTIONS: dict[str, dict[str, str]] = {
    "appliance.agent": {
        "appliance.agent.model_worker": "the model worker confines itself with Landlock"
        " (appliance.confinement), as every shipped server does, before litellm runs a line",
    },
    "appliance.chokepoint": {
        "appliance.chokepoint.escalation.auto_approver": "makes its one short model call with the"
        " agent loop's complete_once, so every model call names its model one way",
        "appliance.chokepoint.task_planner": "makes its one model call with the agent loop's"
        " complete_once, as the auto-approver does",
    },
}


def _layer_rules() -> tuple[Rule, ...]:
    return tuple(
        Rule(
            f"layer-{package.removeprefix('appliance.')}",
            f"{package} may import only "
            + (", ".join(allowed) if allowed else "appliance.errors")
            + " of the appliance's packages",
            where=(package,),
            forbidden=tuple(p for p in APPLIANCE_PACKAGES if p != package and p not in allowed),
            exceptions=LAYER_EXCEPTIONS.get(package, {}),
        )
        for package, allowed in APPLIANCE_LAYERS.items()
    )


RULES = RULES + _layer_rules()

#: modules that must import nothing outside the standard library and themselves
STDLIB_LEAVES = ("policy.safe_json", "policy.schema")

#: (rule id, importer, imported prefix, issue): violations another issue is removing
PENDING: tuple[tuple[str, str, str, int], ...] = ()
