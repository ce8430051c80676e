"""Property tests: random rule sets and calls against invariants and a reference evaluator.

The reference below is written from the semantics in docs/policy-format.md, separately from
the engine (no shared code beyond the models), and kept deliberately naive.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_factories import make_policy, tcontext

from policy.engine import evaluate
from policy.loader import Policy
from policy.models import ToolCall
from policy.paths import lexical

NAMES = ["a", "b", "sb", "x", "..", "."]
ROLES = ["read-path", "write-path", "delete-path", "write-history", "delete-history"]
TOOLS = {
    "one": {"p": ["read-path"]},
    "two": {"src": ["read-path", "delete-path"], "dst": ["write-path"]},
    "hist": {"p": ["write-path", "write-history"]},
    "drop": {"p": ["delete-history"]},
    "bare": {"q": ["none"]},
}
PROTECTED = ("/a/b", "/x/*/a")
SEVERITY = {"allow": 0, "escalate": 1, "deny": 2}

paths = st.lists(st.sampled_from(NAMES), min_size=0, max_size=4).map(lambda p: "/" + "/".join(p))
folders = st.lists(st.sampled_from(["a", "b", "sb", "x"]), min_size=0, max_size=2).map(
    lambda p: "/" + "/".join(p)
)


@st.composite
def rules(draw: Any) -> list[dict[str, Any]]:
    found = []
    for index in range(draw(st.integers(0, 5))):
        cond: dict[str, Any] = {}
        if draw(st.booleans()):
            cond["roles"] = draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=3))
        if draw(st.booleans()):
            roles = draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=3))
            cond["paths"] = {"roles": roles, "within": draw(folders)}
        if draw(st.booleans()):
            cond["tool"] = draw(st.lists(st.sampled_from(sorted(TOOLS)), min_size=1, max_size=2))
        effect = draw(st.sampled_from(["allow", "deny", "escalate"]))
        found.append({"name": f"r{index}", "then": effect, "reason": "r", "if": cond})
    return found


@st.composite
def calls(draw: Any) -> ToolCall:
    tool = draw(st.sampled_from(sorted(TOOLS)))
    arguments = {arg: draw(paths) for arg, roles in TOOLS[tool].items() if roles != ["none"]}
    if tool == "bare":
        arguments = {"q": "text"}
    return ToolCall(server="srv", tool=tool, arguments=arguments)


# --- the reference evaluator ----------------------------------------------------------------


def parts(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("/"):
        if part == "..":
            out = out[:-1]
        elif part not in ("", "."):
            out.append(part)
    return out


def under(path: str, folder: str) -> bool:
    p, f = parts(path), parts(folder)
    return p[: len(f)] == f


def fits(value: list[str], pattern: list[str]) -> bool:
    return all(v == q or q == "*" for v, q in zip(value, pattern, strict=False))


def protected(path: str, role: str) -> bool:
    value = parts(path)
    for pattern in (parts(p) for p in PROTECTED):
        if len(value) >= len(pattern) and fits(value, pattern):
            return True
        destructive = role in ("write-path", "delete-path", "write-history", "delete-history")
        if destructive and len(value) < len(pattern) and fits(value, pattern):
            return True
    return False


def reference(call: ToolCall, rule_set: list[dict], sandbox: str | None) -> tuple[str, str]:
    values = [
        (role, value)
        for arg, roles in TOOLS[call.tool].items()
        for role in roles
        if role != "none"
        for value in [call.arguments[arg]]
    ]
    if any(protected(value, role) for role, value in values):
        return ("deny", "structural-protected-path")
    if not values:
        for rule in rule_set:
            cond = rule["if"]
            if "roles" in cond or "paths" in cond:
                continue
            if "tool" in cond and call.tool not in cond["tool"]:
                continue
            return (rule["then"], rule["name"])
        return ("deny", "default-deny")
    outcomes = [judge(call.tool, role, value, rule_set, sandbox) for role, value in values]
    worst = max(SEVERITY[effect] for effect, _ in outcomes)
    return next(o for o in outcomes if SEVERITY[o[0]] == worst)


def judge(tool: str, role: str, value: str, rule_set: list[dict], sandbox: str | None):
    # the default sandboxHistory ("additive"): only history that discards work is not discharged
    if sandbox and role != "delete-history" and under(value, sandbox):
        return ("allow", "structural-sandbox-allow")
    for rule in rule_set:
        cond = rule["if"]
        if "tool" in cond and tool not in cond["tool"]:
            continue
        if "roles" in cond and role not in cond["roles"]:
            continue
        if "paths" in cond and (role not in cond["paths"]["roles"]):
            continue
        if "paths" in cond and not under(value, cond["paths"]["within"]):
            continue
        return (rule["then"], rule["name"])
    if sandbox and role == "delete-history" and under(value, sandbox):
        return ("escalate", "structural-sandbox-history-escalate")  # a human, never a silent deny
    return ("deny", "default-deny")


# --- properties -----------------------------------------------------------------------------


def run(call: ToolCall, rule_set: list[dict] | Policy, sandbox: str | None) -> tuple[str, str]:
    policy = rule_set if isinstance(rule_set, Policy) else make_policy(rule_set, TOOLS)
    context = tcontext(sandbox=sandbox, protected_patterns=PROTECTED, resolve_path=lexical)
    decision = evaluate(call, policy, context)
    return decision.decision, decision.rule


@settings(max_examples=200, deadline=None)
@given(rule_set=rules(), call=calls(), sandbox=st.sampled_from([None, "/sb", "/a"]))
def test_engine_agrees_with_the_reference_evaluator(rule_set, call, sandbox) -> None:
    assert run(call, rule_set, sandbox) == reference(call, rule_set, sandbox)


descents = st.lists(st.sampled_from(["a", "b", "sb", "x", "."]), max_size=3).map(
    lambda p: "".join("/" + name for name in p)
)


@settings(max_examples=100, deadline=None)
@given(rule_set=rules(), folder=folders, rest=descents, sandbox=st.sampled_from([None, "/", "/a"]))
def test_no_rule_set_makes_a_protected_path_allowed(rule_set, folder, rest, sandbox) -> None:
    everything = {"name": "allow-all", "then": "allow", "reason": "r", "if": {}}
    policy = make_policy([everything, *rule_set], TOOLS)
    for target in ("/a/b" + rest, "/x/any/a" + rest, folder + "/.env", "/sb/../a/./b" + rest):
        for tool in ("one", "two", "hist", "drop"):  # every tool with a path argument
            call = ToolCall(server="srv", tool=tool, arguments=dict.fromkeys(TOOLS[tool], target))
            assert run(call, policy, sandbox) == ("deny", "structural-protected-path"), target


@settings(max_examples=100, deadline=None)
@given(call=calls(), sandbox=st.sampled_from([None, "/sb"]))
def test_a_call_no_rule_covers_is_denied(call, sandbox) -> None:
    effect, rule = run(call, [], sandbox)
    if rule == "structural-sandbox-history-escalate":  # history inside the sandbox: a human
        assert sandbox is not None and effect == "escalate"
    elif rule != "structural-sandbox-allow":
        assert effect == "deny"
        assert rule in ("default-deny", "structural-protected-path")
