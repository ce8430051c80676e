"""The compiled policy: it loads, it is fresh against its constitution, its scenarios replay, and
the git guard holds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.cli.doctor.base import Check, Facts, fail, ok, warn

if TYPE_CHECKING:
    from policy.api import Policy


def check_policy(facts: Facts) -> list[Check]:
    from appliance.session.core import policy_dir_for
    from policy.api import PolicyLoadError, load_policy

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
    ``constitution_digest`` of the full text; a handwritten policy may record the file's plain
    SHA-256)."""
    from appliance.cli.compile_cmd import constitution_text
    from appliance.host.bundle import resource_path
    from policy.compiler.api import constitution_digest

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
    accepted = {constitution_digest(text)}
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


def _scenarios(policy: Policy, folder: Path) -> Check:
    from appliance.cli.policy_cmd import _protected_for
    from policy.api import load_scenarios, replay

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


def _git_guard(policy: Policy) -> Check:
    """No filesystem write into a repository's ``.git`` is allowed without asking."""
    from policy.api import EvalContext, ToolCall, evaluate, lexical

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
