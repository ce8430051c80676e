"""``annotate-tools``, ``compile-policy``, ``refresh-lists``, ``customize-policy``: the LLM steps
that build the policy. The pipeline itself is ``policy.compiler``; this module gathers its inputs
(config, constitution, the servers' live tool lists), prints progress on stderr, the new policy
against the old, and token use and cost at the end. Exit 0 on success, 1 when the build failed
(the previous policy is untouched), 2 for a configuration problem.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from policy.compiler.api import LLM, LiteLLM

EXIT_FAILED, EXIT_CONFIG = 1, 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per LLM request")
    command = parser.get_default("_command")
    if command == "annotate-tools":
        parser.add_argument("--server", action="append", help="only this server (repeatable)")
    if command == "compile-policy":
        parser.add_argument(
            "--accept-proposals",
            action="store_true",
            help="apply the judge's proposed changes to LLM-written scenarios (never invariants)",
        )
    if command == "refresh-lists":
        parser.add_argument("--list", action="append", dest="lists", help="only this list")


def run(args: argparse.Namespace) -> int:
    from policy.compiler.api import CompileError

    paths = app_paths()
    try:
        llm = _llm(paths, args.timeout)
    except _ConfigProblem as exc:
        print(f"ironcurtain {args._command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args._command == "customize-policy":
            return _customize(args, paths, llm)
        return _build(args, paths, llm)
    except _ConfigProblem as exc:
        print(f"ironcurtain {args._command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CompileError as exc:
        print(f"ironcurtain {args._command}: {exc}", file=sys.stderr)
        _print_proposals(getattr(exc, "report", None))
        print("the previous policy is unchanged", file=sys.stderr)
        return EXIT_FAILED
    finally:
        _print_usage(llm)


class _ConfigProblem(Exception):
    pass


def _llm(paths: AppPaths, timeout: float) -> LiteLLM:
    from appliance.config.model_settings import ModelSettings
    from appliance.config.settings import PROVIDER_ENV, ConfigError, load_config
    from policy.compiler.api import LiteLLM

    try:
        config = load_config(paths)
    except ConfigError as exc:
        raise _ConfigProblem(str(exc)) from None
    model = ModelSettings.for_model(config, config.policy_model_id)
    if model.api_key is None:
        provider = config.policy_model_id.partition(":")[0]
        env = PROVIDER_ENV.get(provider, f"{provider.upper()}_API_KEY")
        raise _ConfigProblem(f"policyModelId {config.policy_model_id!r} needs a key: set {env}")
    return LiteLLM(
        model.model_id, api_key=model.api_key, base_url=model.api_base, timeout_s=timeout
    )


def base_constitution(paths: AppPaths) -> str:
    """The user's ``constitution.md`` if they have one, else the shipped default."""
    from policy.api import default_policy_dir

    shipped = default_policy_dir().parent / "constitution.md"
    chosen = paths.constitution if paths.constitution.is_file() else shipped
    return chosen.read_text(encoding="utf-8")


def constitution_text(paths: AppPaths) -> str:
    text = base_constitution(paths)
    if paths.user_constitution.is_file():
        user = paths.user_constitution.read_text(encoding="utf-8")
        text += "\n\n## The user's additions\n\n" + user
    return text


def compile_constitution(
    paths: AppPaths, constitution: str, policy_dir: Path, timeout: float = 120.0
) -> int:
    """Compile ``constitution`` into ``policy_dir`` (a scheduled job's own policy) with the same
    pipeline, model and checks as ``compile-policy``; exit status as that command's."""
    from policy.api import default_policy_dir
    from policy.compiler.api import CompileError, CompileInputs, compile_policy

    try:
        llm = _llm(paths, timeout)
    except _ConfigProblem as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        _progress("tools     listing the servers' tools")
        inputs = CompileInputs(
            constitution=constitution,
            tools=_live_tools(None),
            policy_dir=policy_dir,
            cache_dir=paths.cache / "compiler",
            protected=_protected_for,
            baseline_dir=default_policy_dir(),
        )
        report = compile_policy(inputs, llm, _progress)
    except CompileError as exc:
        print(f"ironcurtain: {exc}", file=sys.stderr)
        _print_proposals(getattr(exc, "report", None))
        return EXIT_FAILED
    finally:
        _print_usage(llm)
    print(f"compiled {report.rules} rules; {report.scenarios} scenarios and the invariants pass")
    _print_lint(policy_dir)
    return 0


def _print_lint(policy_dir: Path) -> None:
    """What ``policy lint`` finds in the policy just installed, counted by kind, with the command
    that shows it: a rule that lets text the agent reads choose a side effect's value is
    compiled as the constitution says, so it is named here rather than found by an attacker."""
    from collections import Counter

    from policy.api import PolicyLoadError, lint, load_policy

    try:
        findings = lint(load_policy(policy_dir))
    except PolicyLoadError as exc:  # installed and verified a moment ago: say so, do not hide it
        print(f"policy lint could not read {policy_dir}: {exc}", file=sys.stderr)
        return
    if not findings:
        print("policy lint: no findings")
        return
    kinds = ", ".join(
        f"{n} {kind}" for kind, n in sorted(Counter(f.kind for f in findings).items())
    )
    print(
        f"policy lint: {len(findings)} finding(s) ({kinds}): rules that let text the agent "
        f"reads choose a side effect's values; see `ironcurtain policy lint --policy-dir "
        f"{policy_dir}`"
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _build(args: argparse.Namespace, paths: AppPaths, llm: LLM) -> int:
    from policy.api import default_policy_dir
    from policy.compiler.api import CompileInputs, annotate_tools, compile_policy

    servers = getattr(args, "server", None)
    _progress("tools     listing the servers' tools")
    inputs = CompileInputs(
        constitution=constitution_text(paths),
        tools=_live_tools(servers),
        policy_dir=paths.generated,
        cache_dir=paths.cache / "compiler",
        protected=_protected_for,
        baseline_dir=default_policy_dir(),
    )
    if args._command == "annotate-tools":
        changed = annotate_tools(inputs, llm, _progress, show=_show_annotation_change)
        print(f"{len(changed)} tool annotation(s) changed; wrote {paths.generated}")
        return 0
    accept = getattr(args, "accept_proposals", False)
    named = getattr(args, "lists", None) or ()
    report = compile_policy(
        inputs,
        llm,
        _progress,
        accept_proposals=accept,
        refresh_lists=named,
        refresh_all_lists=args._command == "refresh-lists" and not named,
    )
    print(f"compiled {report.rules} rules; {report.scenarios} scenarios and the invariants pass")
    print(f"repair rounds: {report.rounds}; wrote {paths.generated}")
    print("changes against the previous policy:")
    for line in report.diff.lines() if report.diff else ["(no previous policy)"]:
        print(f"  {line}")
    _print_proposals(report)
    _print_lint(paths.generated)
    return 0


def _show_annotation_change(name: str, old: Any, new: Any) -> None:
    """Printed before the new file replaces the old one."""
    import json

    print(f"~ annotation {name}")
    print(f"  - {json.dumps(old, sort_keys=True) if old is not None else '(none)'}")
    print(f"  + {json.dumps(new, sort_keys=True) if new is not None else '(removed)'}")


def _live_tools(only: list[str] | None) -> dict[str, list[Any]]:
    import anyio

    from appliance.chokepoint.server_pool import ServerPool
    from policy.compiler.api import ToolSpec

    async def collect(scratch: str) -> dict[str, list[Any]]:
        specs = _registry_specs(Path(scratch))
        known = ", ".join(s.name for s in specs)
        specs = [s for s in specs if not only or s.name in only]
        if not specs:
            raise _ConfigProblem(f"no such server {only[0]!r} ({known})")
        async with ServerPool(specs) as pool:
            found = await pool.all_tools()
        out: dict[str, list[Any]] = {s.name: [] for s in specs}
        for info in found:
            tool = ToolSpec(
                name=info.name, description=info.description, input_schema=info.input_schema
            )
            out[info.server].append(tool)
        return out

    from policy.compiler.api import CompileError

    with tempfile.TemporaryDirectory(prefix="ironcurtain-tools-") as scratch:
        try:
            return anyio.run(collect, scratch)
        except _ConfigProblem:
            raise
        except Exception as exc:  # a server that does not start or answer: no tool list
            raise CompileError("tools", f"cannot list the servers' tools: {exc}") from exc


def _registry_specs(scratch: Path) -> list[Any]:
    """Every server of the registry (shipped and declared), with a scratch folder as sandbox."""
    from appliance.config.servers import ServerDeclarationError
    from appliance.config.settings import ConfigError, load_config
    from appliance.session.core import server_specs

    try:
        return server_specs(load_config(), scratch, all_shipped=True)
    except (ConfigError, ServerDeclarationError) as exc:
        raise _ConfigProblem(str(exc)) from None


def _print_proposals(report: Any) -> None:
    if report is None:
        return
    for p in report.proposals:
        print(
            f"judge proposes: scenario {p.description!r} should expect {p.expected_decision}"
            f" ({p.why or 'no reason given'})",
            file=sys.stderr,
        )
    if report.proposals:
        print(
            "  (shown only; rerun compile-policy with --accept-proposals to apply them)",
            file=sys.stderr,
        )
    for p in report.refused:
        print(
            f"judge proposal refused (hand-written invariant or unknown scenario): "
            f"{p.description!r}",
            file=sys.stderr,
        )


def _print_usage(llm: LLM) -> None:
    u = llm.usage
    print(
        f"LLM: {u.calls} request(s), {u.prompt_tokens} prompt + {u.completion_tokens} "
        f"completion tokens, cost ${u.cost_usd:.4f}",
        file=sys.stderr,
    )


def _protected_for(ironcurtain_home: str) -> tuple[str, ...]:
    home = Path(ironcurtain_home)
    return AppPaths(home=home, cache=home / "cache").protected_patterns()


# --- customize-policy ----------------------------------------------------------------------


def _customize(args: argparse.Namespace, paths: AppPaths, llm: LLM) -> int:
    from policy.compiler.api import draft_user_constitution

    base = base_constitution(paths)
    target = paths.user_constitution
    current = target.read_text(encoding="utf-8") if target.is_file() else ""
    print("Your additions now:\n" + (current or "(none)"))
    for _ in range(5):
        wish = _ask("\nWhat should change? (empty line to stop) ")
        if not wish:
            print("nothing saved")
            return 0
        draft = draft_user_constitution(llm, base, current, wish)
        print(f"\n--- proposed {target.name} ---\n{draft.constitution}\n--- end ---")
        print(draft.summary)
        answer = _ask("Save this? [y = save, r = revise, anything else = quit] ").lower()
        if answer == "y":
            _write_atomically(target, draft.constitution)
            print(f"saved {target}")
            if _ask("Compile the policy now? [y/N] ").lower() == "y":
                args._command = "compile-policy"
                return _build(args, paths, llm)
            return 0
        if answer != "r":
            print("nothing saved")
            return 0
        current = draft.constitution  # revise from the draft the user just read
    print("nothing saved (too many rounds)")
    return 0


def _ask(prompt: str) -> str:
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    return line.strip()


def _write_atomically(path: Path, text: str) -> None:
    from appliance.host.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    text = text if text.endswith("\n") else text + "\n"
    write_text_atomic(path, text, mode=0o600, durable_rename=True)
