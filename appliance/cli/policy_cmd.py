"""``ironcurtain policy check|show|test|lint|diff|replay``: ask the compiled policy about calls,
find the rules that let an injection choose a side effect's values, compare two policies, and
re-decide a recorded session, all without an agent or an LLM.

``check`` prints exactly ``{"decision", "rule", "reason"}`` per call; ``--batch FILE.jsonl``
(``-`` for stdin) takes one ``{"server", "tool", "arguments"}`` object a line and prints one
result line per input line, a bad line getting ``{"error": ...}`` while the rest still run.
Malformed input exits 2. Only the policy package is imported: a batch starts in a blink.
``test``, ``lint``, ``diff`` and ``replay`` exit 1 when they find a failure, a finding or a
difference, 0 when not.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config.paths import AppPaths, app_paths

if TYPE_CHECKING:
    from appliance.config.sections import ChokepointSettings
    from policy.api import Decision, EvalContext, Policy

EXIT_BAD_INPUT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="decide one call, or a batch of calls")
    check.add_argument("server", nargs="?", help="server name, e.g. filesystem")
    check.add_argument("tool", nargs="?", help="tool name, e.g. read_text_file")
    check.add_argument("arguments", nargs="?", help="the call's arguments as a JSON object")
    check.add_argument("--batch", metavar="FILE", help="JSON lines of calls ('-' for stdin)")
    _common(check)
    check.add_argument("--sandbox", metavar="DIR", help="the session sandbox to assume")
    show = sub.add_parser("show", help="print the active rules readably")
    _common(show)
    test = sub.add_parser("test", help="replay the policy's test-scenarios.json")
    _common(test)
    lint = sub.add_parser(
        "lint", help="rules that let text the agent read choose a side effect's values"
    )
    _common(lint)
    lint.add_argument("--json", action="store_true", help="one JSON object per finding")
    lint.add_argument(
        "--accept",
        metavar="RULE|SERVER/TOOL",
        action="append",
        default=[],
        help="a finding made on purpose: a rule's, or a tool's (its uncapped, absent, numbers or "
        "others finding); repeatable",
    )
    read = sub.add_parser(
        "read", help="how a message of yours is read: its task grants, the tools it asks for"
    )
    read.add_argument("message", help="the message, as you would type it to the agent")
    read.add_argument(
        "--plan",
        metavar="FILE",
        help="a task planner's answer to check and use ({\"steps\": [...]}, '-' for stdin)",
    )
    _common(read)
    diff = sub.add_parser("diff", help="rules and scenario decisions that differ between two")
    diff.add_argument("old_dir", metavar="OLD_DIR")
    diff.add_argument("new_dir", metavar="NEW_DIR")
    replay = sub.add_parser("replay", help="re-decide a recorded session's calls under a policy")
    replay.add_argument(
        "audit", metavar="SESSION|AUDIT.jsonl", help="a session id, its folder, or an audit log"
    )
    _common(replay)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        help="policy folder (default: your compiled policy if any, else the shipped one)",
    )


def run(args: argparse.Namespace) -> int:
    call: tuple[str, str, dict] | None = None
    if args.policy_command == "check":
        call, problem = _command_line_call(args)
        if problem:
            return _usage(problem)  # before any policy import: a typo costs nothing
    from policy.api import PolicyLoadError

    paths = app_paths()
    if args.policy_command == "diff":
        return _guarded(lambda: _diff(Path(args.old_dir), Path(args.new_dir)))
    folder = Path(args.policy_dir) if args.policy_dir else _default_dir(paths)
    if args.policy_command == "replay":
        audit = _audit_log(args.audit)
        if audit is None:
            return EXIT_BAD_INPUT
        return _guarded(lambda: _replay(audit, folder, paths))
    try:
        from policy.api import load_policy

        policy = load_policy(folder)
        if args.policy_command == "show":
            return _show(policy)
        if args.policy_command == "test":
            return _test(policy, folder)
        if args.policy_command == "lint":
            return _lint(policy, args.accept, as_json=args.json)
        if args.policy_command == "read":
            return _read(policy, args.message, args.plan)
    except PolicyLoadError as exc:
        print(f"ironcurtain policy: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _check(args, call, policy, paths)


def _default_dir(paths: AppPaths) -> Path:
    from policy.api import default_policy_dir

    if (paths.generated / "compiled-policy.json").is_file():
        return paths.generated
    return default_policy_dir()


# --- check ---------------------------------------------------------------------------------


def _command_line_call(args: argparse.Namespace) -> tuple[tuple[str, str, dict] | None, str]:
    if args.batch:
        if args.server or args.tool or args.arguments:
            return None, "give either --batch FILE or SERVER TOOL ARGS_JSON, not both"
        return None, ""
    if not (args.server and args.tool and args.arguments is not None):
        return None, "policy check needs SERVER TOOL 'ARGS_JSON' (or --batch FILE)"
    from policy.api import JSONRefused
    from policy.api import loads as safe_loads

    try:
        arguments = safe_loads(args.arguments, max_bytes=_MAX_LINE_BYTES)
    except JSONRefused as exc:
        return None, f"ARGS_JSON refused: {exc}"
    if not isinstance(arguments, dict):
        return None, f"ARGS_JSON must be a JSON object, got {type(arguments).__name__}"
    return (args.server, args.tool, arguments), ""


def _check(
    args: argparse.Namespace, call: tuple[str, str, dict] | None, policy: Policy, paths: AppPaths
) -> int:
    from appliance.chokepoint.policy_context import policy_context

    sandbox = os.path.abspath(args.sandbox) if args.sandbox else None
    context = policy_context(paths, sandbox, settings=_settings(paths))  # as the live chokepoint
    if call is None:
        return _batch(args.batch, policy, context)
    print(_decide(*call, policy, context))
    return 0


def _settings(paths: AppPaths) -> ChokepointSettings:
    """The chokepoint's settings (the engine reads ``sandboxHistory``), as a session would load
    them; a config that does not load (a session would not start) gives the defaults, the
    stricter answer."""
    from appliance.config.sections import ChokepointSettings
    from appliance.config.settings import ConfigError, load_config

    try:
        return ChokepointSettings.of(load_config(paths))
    except ConfigError:
        return ChokepointSettings.defaults()


def _batch(source: str, policy: Policy, context: EvalContext) -> int:
    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        return _usage(f"cannot read {source}: {exc.strerror}")
    bad = 0
    out = sys.stdout
    with stream:
        for number, line in enumerate(stream, start=1):
            call, line_id, problem = _parse_line(line)
            echo = {} if line_id is None else {"id": line_id}
            if problem:
                bad += 1
                out.write(json.dumps({**echo, "error": f"line {number}: {problem}"}) + "\n")
                continue
            out.write(_decide(*call, policy, context, echo=echo) + "\n")
    return EXIT_BAD_INPUT if bad else 0


_MAX_LINE_BYTES = 16 * 1024 * 1024  # as a JSON-RPC message to mcp-proxy


def _parse_line(line: str) -> tuple[tuple[str, str, dict], Any, str | None]:
    """(call, id to echo or None, problem). A line may carry ``id`` (string or number), echoed
    back so results can be matched without counting lines."""
    from policy.api import JSONRefused
    from policy.api import loads as safe_loads

    none: tuple[str, str, dict] = ("", "", {})
    try:
        item = safe_loads(line, max_bytes=_MAX_LINE_BYTES)
    except JSONRefused as exc:
        return none, None, str(exc)
    if not isinstance(item, dict):
        return none, None, "expected a JSON object with server, tool and arguments"
    line_id = item.get("id")
    if line_id is not None and (isinstance(line_id, bool) or not isinstance(line_id, str | int)):
        return none, None, "'id' must be a string or an integer"
    call, problem = _line_call(item)
    return call, line_id, problem


def _line_call(item: dict) -> tuple[tuple[str, str, dict], str | None]:
    none: tuple[str, str, dict] = ("", "", {})
    server, tool, arguments = item.get("server"), item.get("tool"), item.get("arguments", {})
    if not isinstance(server, str) or not isinstance(tool, str):
        return none, "'server' and 'tool' must be strings"
    if not isinstance(arguments, dict):
        return none, "'arguments' must be a JSON object"
    extra = set(item) - {"id", "server", "tool", "arguments"}
    if extra:
        return none, f"unknown key {sorted(extra)[0]!r}"
    return (server, tool, arguments), None


def _decide(
    server: str,
    tool: str,
    arguments: dict,
    policy: Policy,
    context: EvalContext,
    echo: dict | None = None,
) -> str:
    decision = offline_decision(server, tool, arguments, policy, context)
    result = {"decision": decision.decision, "rule": decision.rule, "reason": decision.reason}
    return json.dumps({**(echo or {}), **result}, ensure_ascii=False)


def offline_decision(
    server: str, tool: str, arguments: Any, policy: Policy, context: EvalContext
) -> Decision:
    """What the chokepoint decides for this call, without starting a server: the same checks in
    the same order (plain JSON, known tool, the server's own input schema, then the engine).
    Schemas are known for the built-in servers; others are judged by the engine alone."""
    from appliance.chokepoint.audit import json_problem
    from policy.api import Decision, ToolCall, check_arguments, evaluate

    def deny(rule: str, reason: str) -> Decision:
        return Decision(decision="deny", rule=rule, reason=reason)

    unrecordable = json_problem(arguments)
    if unrecordable is not None:
        return deny("invalid-json", f"arguments are not plain JSON data ({unrecordable})")
    schemas = builtin_schemas().get(server)
    if schemas is not None:
        if tool not in schemas:
            return deny("structural-unknown-tool", f"the {server} server has no tool {tool!r}")
        problem = check_arguments(arguments, schemas[tool])
        if problem:
            return deny("invalid-arguments", problem)
    args = arguments if isinstance(arguments, dict) else {}
    return evaluate(ToolCall(server=server, tool=tool, arguments=args), policy, context)


@functools.cache
def builtin_schemas() -> dict[str, dict[str, dict]]:
    """server -> tool -> input schema of the shipped servers, built in memory (no process)."""
    from servers.fetch import build_server as fetch_server
    from servers.fetch.settings import FetchSettings
    from servers.filesystem.fileio import Limits
    from servers.filesystem.reading import Context
    from servers.filesystem.resolve import Roots
    from servers.filesystem.server import tools as filesystem_tools
    from servers.git import build_server as git_server

    filesystem = filesystem_tools(Context(Roots(["/"]), Limits(1, False, 0o022)))
    built = {
        "filesystem": filesystem,
        "git": list(git_server([]).tools.values()),
        "fetch": list(fetch_server(FetchSettings()).tools.values()),
    }
    return {name: {t.name: t.input_schema for t in tools} for name, tools in built.items()}


def _usage(message: str) -> int:
    print(f"ironcurtain policy check: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --- read ----------------------------------------------------------------------------------


def _read(policy: Policy, message: str, plan_file: str | None) -> int:
    """The message as a session reads it: the plan (when given), the grants line the terminal
    shows, then each tool with askedBy, whether the message asks for it and with which values."""
    from policy.api import (
        ASKED,
        ASKED_IF,
        GRANT_LISTS,
        SessionRun,
        asked_in,
        check_plan,
        scoped_list,
    )

    steps: tuple = ()
    if plan_file is not None:
        try:
            raw = sys.stdin.read() if plan_file == "-" else Path(plan_file).read_text("utf-8")
            answer = json.loads(raw)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"ironcurtain policy read: --plan {plan_file}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ValueError as exc:
            print(f"ironcurtain policy read: --plan {plan_file}: not JSON ({exc})", file=sys.stderr)
            return EXIT_BAD_INPUT
        plan = check_plan(answer, message, policy)
        print(plan.describe())
        steps = plan.steps
    run = SessionRun(policy)
    grants, line = run.grant_task(message, steps)
    print(line)
    asked = grants.get(ASKED, ())
    on_condition = set(grants.get(ASKED_IF, ()))
    unconditional = [a for a in asked if a not in on_condition]

    for server, tools in policy.annotations.items():
        for name, annotation in tools.items():
            scope = annotation.asked_by
            if scope is None:
                continue
            if asked_in(scope, unconditional):
                how = "asked"
            elif asked_in(scope, asked):
                how = "asked only on a condition (its calls go to a human)"
            else:
                print(f"tool {server}/{name}: not asked (task-not-asked)")
                continue
            shares = []
            for base in GRANT_LISTS:
                values = grants.get(scoped_list(base, scope), ())
                if values:
                    shown = ", ".join(values[:8]) + (" …" if len(values) > 8 else "")
                    shares.append(f"{base.removeprefix('task:')}: {shown}")
            print(f"tool {server}/{name}: {how}; " + ("; ".join(shares) or "no values"))
    return 0


# --- show and test -------------------------------------------------------------------------


def _show(policy: Policy) -> int:
    from policy.api import describe_condition

    print(f"policy: {policy.source}  (digest {policy.digest[:16]})")
    for index, rule in enumerate(policy.rules, start=1):
        print(f"\n{index:>2}. {rule.name}  →  {rule.then.upper()}")
        print(f"    when: {describe_condition(rule.when)}")
        print(f"    why:  {rule.reason}")
    print("\nanything no rule covers: DENY (default-deny)")
    for name, values in sorted(policy.lists.items()):
        print(f"list @{name}: {len(values)} entries")
    for name in policy.missing_lists:
        print(f"warning: list @{name} is referenced but not defined; it matches nothing")
    _show_listings(policy)
    return 0


def _show_listings(policy: Policy) -> None:
    """The tools only an instruction of the request may ask for (``askedBy``), the listing
    tools that bind objects to the task (``records``), and which of them let an outsider's
    record be bound (no ``ownedBy``)."""
    for server, tools in sorted(policy.annotations.items()):
        for name, annotation in sorted(tools.items()):
            if annotation.asked_by is not None:
                asked = ", ".join(repr(a) for a in annotation.asked_by)
                otherwise = "asked" if annotation.when_not_asked == "escalate" else "refused"
                print(f"tool {server}/{name}: asked by {asked} (otherwise {otherwise}: "
                      "task-not-asked; its task lists: those instructions' share)")  # fmt: skip
            spec = annotation.records
            if spec is None:
                continue
            described = ", ".join(spec.described_by)
            print(f"listing {server}/{name}: binds @{spec.grants} by id {spec.id!r}, "
                  f"described by {described}")  # fmt: skip
            if spec.owned_by is None:
                print(
                    f"warning: {server}/{name} has no ownedBy: a record someone else made, "
                    f"described in the user's words, can be bound to @{spec.grants}"
                )
            else:
                owners = ", ".join(spec.owned_by.in_)
                print(f"    only records whose {spec.owned_by.field!r} is one of: {owners}")
                mine = spec.owned_by.mine
                if mine is not None:
                    told = ", ".join(mine) if mine else "none"
                    print(f"    the user's own, whose records the words alone tell apart: {told}")
            if spec.written_by_others:
                others = ", ".join(repr(f) for f in spec.written_by_others)
                print(f"    written by others, ranking only what the other fields tie on: {others}")
            for field, name in spec.also_grants.items():
                print(f"    a bound record's {field!r} is granted with it to @{name}")
            kept = f" (all but {', '.join(spec.keeps_all)})" if spec.keeps_all else ""
            print(f"    a record found by a listing narrowed by its arguments{kept} is confirmed "
                  "unless it is the user's own or made by someone the request names")  # fmt: skip
            if spec.confirm is not None:
                when = "always" if spec.confirm == "always" else "when another record fits too"
                print(f"    the human confirms a bound record before a side effect uses it: {when}")


def _test(policy: Policy, folder: Path) -> int:
    from policy.api import load_scenarios, replay

    scenarios = load_scenarios(folder / "test-scenarios.json")
    results = replay(scenarios, policy, _protected_for)
    failed = [r for r in results if not r.passed]
    for result in failed:
        s, d = result.scenario, result.decision
        expected = s.expected_decision + (f" ({s.expected_rule})" if s.expected_rule else "")
        print(f"FAIL {s.description}: expected {expected}, got {d.decision} ({d.rule})")
    print(f"{len(results) - len(failed)} of {len(results)} scenarios pass")
    return 1 if failed else 0


def _lint(policy: Policy, accept: list[str], *, as_json: bool) -> int:
    from policy.api import lint

    findings = lint(policy)
    known = {f.rule for f in findings if f.rule} | {f"{f.server}/{f.tool}" for f in findings}
    unknown = [name for name in accept if name not in known]
    if unknown:
        print(f"ironcurtain policy lint: --accept {unknown[0]!r} names no finding of "
              f"{policy.source}", file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    accepted = set(accept)
    shown = [
        f for f in findings
        if f.rule not in accepted and not (f.rule is None and f"{f.server}/{f.tool}" in accepted)
    ]  # fmt: skip
    for finding in shown:
        print(json.dumps(finding._asdict()) if as_json else finding.line())
    if not as_json:
        extra = f" ({len(findings) - len(shown)} accepted)" if len(shown) < len(findings) else ""
        print(f"{len(shown)} findings in {policy.source}{extra}")
    return 1 if shown else 0


def _protected_for(ironcurtain_home: str) -> tuple[str, ...]:
    home = Path(ironcurtain_home)
    return AppPaths(home=home, cache=home / "cache").protected_patterns()


# --- diff and replay -----------------------------------------------------------------------


def _guarded(action: Any) -> int:
    from policy.api import PolicyLoadError

    try:
        return action()
    except PolicyLoadError as exc:
        print(f"ironcurtain policy: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _diff(old_dir: Path, new_dir: Path) -> int:
    from policy.api import EvalContext, lexical, load_policy, load_scenarios
    from policy.compiler.api import decision_changes, diff_policies

    old, new = load_policy(old_dir), load_policy(new_dir)
    result = diff_policies(old, new)
    cases: dict[str, tuple[Any, Any]] = {}  # the union, first file wins on equal descriptions
    for folder in (old_dir, new_dir):
        if (folder / "test-scenarios.json").is_file():
            loaded = load_scenarios(folder / "test-scenarios.json")
            ctx = loaded.context
            context = EvalContext(
                sandbox=ctx.sandbox,
                protected_patterns=_protected_for(ctx.ironcurtain_home),
                home=ctx.home,
                resolve_path=lexical,
            )
            for scenario in loaded.scenarios:
                cases.setdefault(scenario.description, (scenario, context))
    result.decisions = decision_changes(old, new, list(cases.values()))
    print(f"old: {old_dir}  (digest {old.digest[:16]})\nnew: {new_dir}  (digest {new.digest[:16]})")
    for line in result.lines():
        print(line)
    print(f"{len(result.decisions)} of {len(cases)} scenarios decided differently")
    return 0 if result.empty else 1


def _audit_log(target: str) -> Path | None:
    """The log ``replay`` reads: a file as given, a session folder's, or a session id's."""
    from appliance.cli.audit_cmd import resolve_log

    path = resolve_log(target)
    if path.is_file():
        return path
    looks_like_id = "/" not in target and not target.endswith(".jsonl")
    hint = "; `ironcurtain sessions` lists the sessions" if looks_like_id else ""
    print(f"ironcurtain policy replay: no audit log at {path}{hint}", file=sys.stderr)
    return None


def _replay(audit: Path, folder: Path, paths: AppPaths) -> int:
    from appliance.chokepoint.policy_context import policy_context
    from policy.api import PolicyLoadError, load_policy
    from policy.compiler.api import replay_audit

    policy = load_policy(folder)

    settings = _settings(paths)

    def context_for(sandbox: str | None) -> EvalContext:
        return policy_context(paths, sandbox, settings=settings)

    try:
        with audit.open(encoding="utf-8") as lines:
            changes, total = replay_audit(lines, policy, context_for, source=str(audit))
    except OSError as exc:
        raise PolicyLoadError(str(audit), "$", None, f"a readable file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise PolicyLoadError(str(audit), "$", None, "UTF-8 text") from None
    print(f"policy: {policy.source}  (digest {policy.digest[:16]})")
    for c in changes:
        note = "  [arguments were redacted in the log: judged as redacted]" if c.redacted else ""
        print(f"line {c.line}: {c.server}/{c.tool}: {c.old} -> {c.new}{note}")
    print(f"{len(changes)} of {total} calls would be decided differently")
    if any(c.server == "git" for c in changes):
        print("note: git calls are judged on the agent's own arguments (remote URLs not re-read)")
    return 1 if changes else 0
