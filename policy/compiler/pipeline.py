"""The whole build: annotate → rules → lists → scenarios → verify/repair → install.

Servers run in parallel within a stage. Nothing reaches ``policy_dir`` until every stage passed
and every scenario and invariant holds against the real engine; any failure raises
``CompileError`` and leaves the previous policy exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy.compiler import verify
from policy.compiler.annotate import ToolSpec, annotate_server
from policy.compiler.cache import StageCache, digest_of
from policy.compiler.diff import PolicyDiff, diff_policies
from policy.compiler.errors import CompileError
from policy.compiler.install import install_files
from policy.compiler.lists import resolve_lists
from policy.compiler.llm import LLM
from policy.compiler.rules import compile_server, list_references
from policy.compiler.scenarios import CONTEXT, INVARIANTS_FILE, load_invariants, write_scenarios
from policy.loader import Policy, load_policy
from policy.models import (
    DynamicList,
    DynamicListsFile,
    PolicyError,
    Rule,
    ServerAnnotations,
    ToolAnnotationsFile,
)
from policy.scenarios import Scenario

__all__ = ["CompileInputs", "CompileReport", "annotate_tools", "compile_policy"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CompileInputs:
    constitution: str
    tools: Mapping[str, Sequence[ToolSpec]]  # server -> its tools, as the server lists them
    policy_dir: Path  # the active compiled policy (replaced only on success)
    cache_dir: Path
    protected: Callable[[str], tuple[str, ...]]  # ironcurtain home -> protected patterns
    baseline_dir: Path | None = None  # compared against when policy_dir holds no policy yet
    invariants_file: Path = INVARIANTS_FILE
    now: Callable[[], str] = lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CompileReport:
    diff: PolicyDiff | None
    rules: int = 0
    scenarios: int = 0
    invariants: int = 0
    rounds: int = 0
    proposals: list[verify.Proposal] = field(default_factory=list)
    refused: list[verify.Proposal] = field(default_factory=list)
    annotation_changes: list[str] = field(default_factory=list)


def _parallel[T](servers: Sequence[str], work: Callable[[str], T]) -> dict[str, T]:
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(servers)))) as pool:
        futures = {s: pool.submit(work, s) for s in servers}
        return {s: f.result() for s, f in futures.items()}  # re-raises the first CompileError


def _previous(inputs: CompileInputs) -> Policy | None:
    for folder in (inputs.policy_dir, inputs.baseline_dir):
        if folder is not None and (folder / "compiled-policy.json").is_file():
            try:
                return load_policy(folder)
            except PolicyError:
                return None  # a broken active policy is replaced, not compared against
    return None


def _annotations_file(by_server: Mapping[str, ServerAnnotations], now: str) -> dict[str, Any]:
    servers = {
        s: a.model_dump(mode="json", by_alias=True, exclude_none=True) for s, a in by_server.items()
    }
    return {"generatedAt": now, "servers": dict(sorted(servers.items()))}


def compile_policy(
    inputs: CompileInputs,
    llm: LLM,
    progress: Progress,
    *,
    accept_proposals: bool = False,
    refresh_lists: Collection[str] = (),
) -> CompileReport:
    cache = StageCache(inputs.cache_dir)
    servers = sorted(inputs.tools)
    if not servers:
        raise CompileError("annotate", "no servers to compile for")
    invariants = load_invariants(inputs.invariants_file)
    text = inputs.constitution
    annotations = _parallel(
        servers, lambda s: annotate_server(s, inputs.tools[s], llm, cache, progress)
    )
    compiled = _parallel(
        servers, lambda s: compile_server(s, text, annotations[s], llm, cache, progress)
    )
    written = _parallel(
        servers, lambda s: write_scenarios(s, text, annotations[s], llm, cache, progress)
    )
    rules = {s: compiled[s].rules for s in servers}
    _unique_names(rules)
    previous = _previous(inputs)
    old_lists = _old_lists(inputs.policy_dir)
    references: dict[str, str] = {}
    for server_rules in rules.values():
        references.update(list_references(server_rules))
    lists = resolve_lists(references, text, old_lists, llm, cache, progress, refresh_lists)
    annotations_file = ToolAnnotationsFile.model_validate(_annotations_file(annotations, ""))
    lists_file = DynamicListsFile(lists=lists)

    def build(by_server: dict[str, tuple[Rule, ...]]) -> Policy:
        flat = tuple(r for s in servers for r in by_server[s])
        return Policy.build(flat, annotations_file, lists_file)

    def check(policy: Policy, scenarios: Sequence[Scenario]) -> list[verify.Failure]:
        return verify.find_failures(policy, scenarios, CONTEXT, invariants, inputs.protected)

    scenarios = tuple(s for server in servers for s in written[server])
    outcome = verify.Outcome(rules=rules, scenarios=scenarios, failures=[])
    outcome.failures = check(build(rules), scenarios)
    progress(
        f"verify    {len(scenarios)} scenarios, {len(invariants.invariants)} invariants: "
        f"{len(outcome.failures)} failing"
    )
    outcome = verify.repair_loop(
        outcome, build, check, text, annotations, llm, progress, accept_proposals
    )
    report = CompileReport(
        diff=None,
        rounds=outcome.rounds,
        proposals=outcome.proposals,
        refused=outcome.refused,
        invariants=len(invariants.invariants),
    )
    if outcome.failures:
        raise _unverified(outcome.failures, report)
    new = build(outcome.rules)
    now = inputs.now()
    install_files(
        inputs.policy_dir,
        {
            "compiled-policy.json": {
                "generatedAt": now,
                "constitutionHash": digest_of(text),
                "rules": [
                    r.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                    for r in new.rules
                ],
            },
            "tool-annotations.json": _annotations_file(annotations, now),
            "dynamic-lists.json": {
                "generatedAt": now,
                "lists": {
                    n: item.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for n, item in lists.items()
                },
            },
            "test-scenarios.json": _scenario_file(outcome.scenarios, invariants),
        },
    )
    report.diff = diff_policies(previous, new) if previous else None
    report.rules, report.scenarios = len(new.rules), len(outcome.scenarios)
    return report


class UnverifiedError(CompileError):
    def __init__(self, message: str, report: CompileReport) -> None:
        super().__init__("verify", message)
        self.report = report


def _unverified(failures: list[verify.Failure], report: CompileReport) -> UnverifiedError:
    shown = "; ".join(
        f"{'invariant ' if f.invariant else ''}{f.description!r}: expected {f.expected}, "
        f"got {f.got} ({f.rule})"
        for f in failures[:5]
    )
    more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
    message = (
        f"the policy could not be verified after {report.rounds} repair round(s): {shown}{more}"
    )
    return UnverifiedError(message, report)


def _unique_names(rules: Mapping[str, tuple[Rule, ...]]) -> None:
    owner: dict[str, str] = {}
    for server, server_rules in rules.items():
        for rule in server_rules:
            if rule.name in owner:
                raise CompileError(
                    "rules", f"rule name {rule.name!r} used by both {owner[rule.name]} and {server}"
                )
            owner[rule.name] = server


def _old_lists(folder: Path) -> dict[str, DynamicList]:
    path = folder / "dynamic-lists.json"
    try:
        return dict(DynamicListsFile.model_validate_json(path.read_bytes()).lists)
    except (OSError, ValueError):
        return {}


def _scenario_file(scenarios: Sequence[Scenario], invariants: Any) -> dict[str, Any]:
    """The LLM's scenarios plus every exact invariant, so ``policy test`` replays both."""
    items = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in scenarios]
    if invariants.context == CONTEXT:
        for inv in invariants.invariants:
            if inv.expected_decision is not None:
                item = {
                    "description": inv.description,
                    "request": inv.request.model_dump(mode="json", by_alias=True),
                    "expectedDecision": inv.expected_decision,
                    "source": "invariant",
                }
                if inv.expected_rule:
                    item["expectedRule"] = inv.expected_rule
                items.append(item)
    context = CONTEXT.model_dump(mode="json", by_alias=True)
    return {"context": context, "scenarios": items}


def annotate_tools(
    inputs: CompileInputs,
    llm: LLM,
    progress: Progress,
    show: Callable[[str, Any, Any], None] = lambda name, old, new: None,
) -> list[str]:
    """Stage 1 alone for the servers in ``inputs.tools``; other servers' annotations are kept.
    Each changed tool goes to ``show(name, old, new)`` before anything is written; returns the
    changed ``server/tool`` names. With an active policy the new annotations must
    still pass its scenarios and the invariants before they replace the old file."""
    cache = StageCache(inputs.cache_dir)
    servers = sorted(inputs.tools)
    fresh = _parallel(servers, lambda s: annotate_server(s, inputs.tools[s], llm, cache, progress))
    path = inputs.policy_dir / "tool-annotations.json"
    try:
        old = ToolAnnotationsFile.model_validate_json(path.read_bytes()).servers
    except (OSError, ValueError):
        old = {}
    merged = {**old, **fresh}
    changed = _changed_tools(old, merged)
    for name, before, after in changed:
        show(name, before, after)
    content = _annotations_file(merged, inputs.now())
    if (inputs.policy_dir / "compiled-policy.json").is_file():
        _recheck(inputs, content)
    install_files(inputs.policy_dir, {"tool-annotations.json": content})
    return [name for name, _, _ in changed]


def _changed_tools(
    old: Mapping[str, ServerAnnotations], new: Mapping[str, ServerAnnotations]
) -> list[tuple[str, Any, Any]]:
    """``(server/tool, old annotation JSON or None, new annotation JSON or None)``."""

    def tools(entry: ServerAnnotations | None) -> dict[str, Any]:
        items = entry.tools if entry else ()
        return {t.tool_name: t.model_dump(mode="json", by_alias=True) for t in items}

    out = []
    for server in sorted(set(old) | set(new)):
        a, b = tools(old.get(server)), tools(new.get(server))
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.append((f"{server}/{name}", a.get(name), b.get(name)))
    return out


def _recheck(inputs: CompileInputs, annotations: dict[str, Any]) -> None:
    current = load_policy(inputs.policy_dir)
    candidate = Policy.build(
        current.rules,
        ToolAnnotationsFile.model_validate(annotations),
        DynamicListsFile(lists={n: DynamicList(values=v) for n, v in current.lists.items()}),
    )
    scenarios_path = inputs.policy_dir / "test-scenarios.json"
    scenarios: tuple[Scenario, ...] = ()
    context = CONTEXT
    if scenarios_path.is_file():
        from policy.scenarios import load_scenarios

        loaded = load_scenarios(scenarios_path)
        scenarios, context = loaded.scenarios, loaded.context
    invariants = load_invariants(inputs.invariants_file)
    failures = verify.find_failures(candidate, scenarios, context, invariants, inputs.protected)
    if failures:
        first = failures[0]
        raise CompileError(
            "annotate",
            f"with the new annotations {first.description!r} expects {first.expected} "
            f"but gets {first.got} ({first.rule}); run compile-policy to rebuild the rules",
        )
