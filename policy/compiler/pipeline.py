"""The whole build: annotate → rules → scenarios → lists → verify/repair → harden → install.

Servers run in parallel within a stage. Nothing reaches ``policy_dir`` until every stage passed
and every scenario and invariant holds against the real engine; any failure raises
``CompileError`` and leaves the previous policy exactly as it was. A verified repair is cached
too (by the digest of what it repaired), so a second run asks no LLM even after a repair.
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
from policy.compiler.artifacts import annotations_file, old_lists, policy_files
from policy.compiler.cache import StageCache, digest_of
from policy.compiler.diff import PolicyDiff, diff_policies
from policy.compiler.errors import CompileError
from policy.compiler.harden import Hardening, harden_rules
from policy.compiler.install import install_files
from policy.compiler.lists import resolve_lists
from policy.compiler.llm import LLM
from policy.compiler.rules import check_rules, compile_server, list_references
from policy.compiler.scenarios import (
    CONTEXT,
    INVARIANTS_FILE,
    InvariantFile,
    load_invariants,
    write_scenarios,
)
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

__all__ = ["CompileInputs", "CompileReport", "UnverifiedError", "compile_policy", "parallel"]

Progress = Callable[[str], None]


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CompileInputs:
    constitution: str
    tools: Mapping[str, Sequence[ToolSpec]]  # server -> its tools, as the server lists them
    policy_dir: Path  # the active compiled policy (replaced only on success)
    cache_dir: Path
    protected: Callable[[str], tuple[str, ...]]  # ironcurtain home -> protected patterns
    baseline_dir: Path | None = None  # compared against when policy_dir holds no policy yet
    invariants_file: Path = INVARIANTS_FILE
    now: Callable[[], str] = _utc_now


@dataclass
class CompileReport:
    diff: PolicyDiff | None = None
    rules: int = 0
    scenarios: int = 0
    invariants: int = 0
    rounds: int = 0
    proposals: list[verify.Proposal] = field(default_factory=list)
    refused: list[verify.Proposal] = field(default_factory=list)
    hardened: list[Hardening] = field(default_factory=list)  # stage 6, per server with findings


class UnverifiedError(CompileError):
    """The scenarios or invariants still fail after the repair rounds."""

    def __init__(self, message: str, report: CompileReport) -> None:
        super().__init__("verify", message)
        self.report = report


@dataclass
class _Draft:
    """Everything the stages produced, before verification."""

    annotations: dict[str, ServerAnnotations]
    rules: dict[str, tuple[Rule, ...]]
    scenarios: tuple[Scenario, ...]
    lists: dict[str, DynamicList]
    invariants: InvariantFile

    def build(self, rules: Mapping[str, tuple[Rule, ...]]) -> Policy:
        _unique_names(rules)
        flat = tuple(r for server in sorted(rules) for r in rules[server])
        annotations = ToolAnnotationsFile.model_validate(annotations_file(self.annotations, ""))
        return Policy.build(flat, annotations, DynamicListsFile(lists=self.lists))


def parallel[T](servers: Sequence[str], work: Callable[[str], T]) -> dict[str, T]:
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(servers)))) as pool:
        futures = {s: pool.submit(work, s) for s in servers}
        return {s: f.result() for s, f in futures.items()}  # re-raises the first CompileError


def compile_policy(
    inputs: CompileInputs,
    llm: LLM,
    progress: Progress,
    *,
    accept_proposals: bool = False,
    refresh_lists: Collection[str] = (),
    refresh_all_lists: bool = False,
) -> CompileReport:
    """Build, verify and install; ``refresh_lists`` names lists to resolve again (an error if
    no rule refers to one), ``refresh_all_lists`` resolves every referenced list again."""
    cache = StageCache(inputs.cache_dir)
    draft = _run_stages(inputs, llm, cache, progress, refresh_lists, refresh_all_lists)
    outcome = _verify(inputs, draft, llm, cache, progress, accept_proposals)
    report = CompileReport(
        rounds=outcome.rounds,
        proposals=outcome.proposals,
        refused=outcome.refused,
        invariants=len(draft.invariants.invariants),
    )
    if outcome.failures:
        raise _unverified(outcome.failures, report)
    check = _checker(inputs, draft)
    outcome.rules, report.hardened = harden_rules(
        inputs.constitution,
        outcome.rules,
        draft.annotations,
        draft.build,
        lambda policy: check(policy, outcome.scenarios),
        llm,
        cache,
        progress,
    )
    previous = _previous(inputs)
    new = draft.build(outcome.rules)
    files = policy_files(
        constitution=inputs.constitution,
        rules=new.rules,
        annotations=draft.annotations,
        lists=draft.lists,
        scenarios=outcome.scenarios,
        invariants=draft.invariants,
        now=inputs.now(),
    )
    install_files(inputs.policy_dir, files)
    report.diff = diff_policies(previous, new) if previous else None
    report.rules, report.scenarios = len(new.rules), len(outcome.scenarios)
    return report


def _run_stages(
    inputs: CompileInputs,
    llm: LLM,
    cache: StageCache,
    progress: Progress,
    refresh_lists: Collection[str],
    refresh_all_lists: bool,
) -> _Draft:
    servers, text = sorted(inputs.tools), inputs.constitution
    if not servers:
        raise CompileError("annotate", "no servers to compile for")
    invariants = load_invariants(inputs.invariants_file)
    annotations = parallel(
        servers, lambda s: annotate_server(s, inputs.tools[s], llm, cache, progress)
    )
    compiled = parallel(
        servers, lambda s: compile_server(s, text, annotations[s], llm, cache, progress)
    )
    written = parallel(
        servers, lambda s: write_scenarios(s, text, annotations[s], llm, cache, progress)
    )
    rules = {s: compiled[s].rules for s in servers}
    _unique_names(rules)
    references: dict[str, str] = {}
    for server in servers:
        references.update(list_references(rules[server]))
    if unknown := sorted(set(refresh_lists) - set(references)):
        raise CompileError("lists", f"no rule refers to @{unknown[0]}; nothing to refresh")
    refresh = set(references) if refresh_all_lists else set(refresh_lists)
    previous_lists = old_lists(inputs.policy_dir)
    lists = resolve_lists(references, text, previous_lists, llm, cache, progress, refresh)
    # A list the rules no longer name keeps the user's own edits (it matches nothing meanwhile).
    for name, item in previous_lists.items():
        if name not in lists and (item.manual_additions or item.manual_removals):
            lists[name] = item
    scenarios = tuple(s for server in servers for s in written[server])
    return _Draft(annotations, rules, scenarios, lists, invariants)


def _verify(
    inputs: CompileInputs,
    draft: _Draft,
    llm: LLM,
    cache: StageCache,
    progress: Progress,
    accept_proposals: bool,
) -> verify.Outcome:
    check = _checker(inputs, draft)
    outcome = verify.Outcome(rules=dict(draft.rules), scenarios=draft.scenarios, failures=[])
    outcome.failures = check(draft.build(outcome.rules), outcome.scenarios)
    progress(
        f"verify    {len(outcome.scenarios)} scenarios, {len(draft.invariants.invariants)} "
        f"invariants: {len(outcome.failures)} failing"
    )
    if not outcome.failures:
        return outcome
    key = _repair_key(inputs, draft, accept_proposals)

    def checked(entry: Any) -> verify.Outcome:
        repaired = verify.Outcome.from_json(entry)
        for server, rules in repaired.rules.items():
            check_rules(server, draft.annotations[server], rules)
        repaired.failures = check(draft.build(repaired.rules), repaired.scenarios)
        if repaired.failures:
            raise ValueError("the cached repair fails its scenarios")
        return repaired

    if (repaired := cache.get_checked("repair", key, checked)) is not None:
        progress("verify    repaired rules: cached")
        return repaired
    outcome = verify.repair_loop(
        outcome,
        draft.build,
        check,
        inputs.constitution,
        draft.annotations,
        llm,
        progress,
        accept_proposals,
    )
    if not outcome.failures:
        cache.put("repair", key, outcome.to_json())
    return outcome


def _checker(
    inputs: CompileInputs, draft: _Draft
) -> Callable[[Policy, Sequence[Scenario]], list[verify.Failure]]:
    """The verification: every scenario and invariant against a candidate policy."""

    def check(policy: Policy, scenarios: Sequence[Scenario]) -> list[verify.Failure]:
        return verify.find_failures(policy, scenarios, CONTEXT, draft.invariants, inputs.protected)

    return check


def _repair_key(inputs: CompileInputs, draft: _Draft, accept_proposals: bool) -> str:
    rules = {
        s: [r.model_dump(mode="json", by_alias=True) for r in rs] for s, rs in draft.rules.items()
    }
    annotations = annotations_file(draft.annotations, "")  # tools and declared roles
    return digest_of(
        "repair",
        inputs.constitution,
        rules,
        annotations,
        [s.model_dump(mode="json", by_alias=True) for s in draft.scenarios],
        draft.invariants.model_dump(mode="json", by_alias=True),
        {n: list(item.effective()) for n, item in draft.lists.items()},
        accept_proposals,
    )


def _previous(inputs: CompileInputs) -> Policy | None:
    for folder in (inputs.policy_dir, inputs.baseline_dir):
        if folder is not None and (folder / "compiled-policy.json").is_file():
            try:
                return load_policy(folder)
            except PolicyError:
                return None  # a broken active policy is replaced, not compared against
    return None


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
    for server in sorted(rules):
        for rule in rules[server]:
            if rule.name in owner:
                raise CompileError(
                    "rules", f"rule name {rule.name!r} used by both {owner[rule.name]} and {server}"
                )
            owner[rule.name] = server
