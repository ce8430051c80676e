"""The engine's semantics, one rule at a time; every assertion names the deciding rule id."""

from __future__ import annotations

import pytest
from policy_factories import SANDBOX, make_policy, shipped_policy, tcall, tcontext

from policy.engine import evaluate
from policy.models import Decision, EvalContext, ToolCall
from policy.paths import lexical
from policy.roles import extract_roles

ALLOW_ALL = {"name": "allow-everything", "then": "allow"}


def decide(policy, call, **context) -> tuple[str, str]:
    decision = evaluate(call, policy, tcontext(**context))
    return decision.decision, decision.rule


# --- structural checks, in order -----------------------------------------------------------


def test_unknown_tool_and_unknown_server_are_denied() -> None:
    policy = make_policy([ALLOW_ALL])
    assert decide(policy, tcall("srv", "nope")) == ("deny", "structural-unknown-tool")
    assert decide(policy, tcall("other", "read", path="/x")) == ("deny", "structural-unknown-tool")


@pytest.mark.parametrize(
    "arguments",
    [
        {"path": "/x", "extra": 1},
        {"path": 3},
        {"path": None, "other": "x"},
        {"path": "/x\x00y"},
        {"path": ""},
        {"path": "~bob/x"},
        {"path": {"nested": "/x"}},
        {"path": ["/ok", 5]},
    ],
)
def test_invalid_arguments_are_denied_before_any_rule(arguments: dict) -> None:
    policy = make_policy([ALLOW_ALL])
    call = ToolCall(server="srv", tool="read", arguments=arguments)
    assert decide(policy, call) == ("deny", "invalid-arguments")


def test_protected_paths_beat_an_allow_everything_rule() -> None:
    policy = make_policy([ALLOW_ALL])
    for path in (
        "/home/user/.ironcurtain/config.json",
        "/home/user/.ironcurtain/generated/compiled-policy.json",
        "/home/user/.ironcurtain/sessions/abc/audit.jsonl",
        f"{SANDBOX}/../audit.jsonl",
        f"{SANDBOX}/x/.env",
        "/srv/app/.env.local",
    ):
        assert decide(policy, tcall("srv", "read", path=path)) == (
            "deny",
            "structural-protected-path",
        ), path


def test_a_folder_holding_protected_files_is_protected_for_writes_only() -> None:
    tools = {"read": {"path": ["read-path"]}, "write": {"path": ["write-path"]}}
    policy = make_policy([ALLOW_ALL], tools)
    home = "/home/user/.ironcurtain"
    assert decide(policy, tcall("srv", "write", path=home)) == ("deny", "structural-protected-path")
    assert decide(policy, tcall("srv", "read", path=home)) == ("allow", "allow-everything")


def test_protected_check_uses_the_resolved_and_the_written_path() -> None:
    policy = make_policy([ALLOW_ALL])
    links = {"/tmp/innocent": "/home/user/.ironcurtain/config.json"}
    resolver = lambda p: links.get(lexical(p), lexical(p))  # noqa: E731 -- a tiny fake disk
    call = tcall("srv", "read", path="/tmp/innocent")
    assert decide(policy, call, resolve_path=resolver) == ("deny", "structural-protected-path")
    # and a protected name reached through a link elsewhere is still refused by its written form
    back = {"/home/user/.ironcurtain/config.json": "/elsewhere/file"}
    resolver2 = lambda p: back.get(lexical(p), lexical(p))  # noqa: E731
    call = tcall("srv", "read", path="/home/user/.ironcurtain/config.json")
    assert decide(policy, call, resolve_path=resolver2) == ("deny", "structural-protected-path")


def test_sandbox_discharges_history_that_loses_nothing_and_asks_for_history_that_discards() -> None:
    tools = {
        "commit": {"path": ["write-path", "write-history"]},
        "reset": {"path": ["delete-history"]},
        "read": {"path": ["read-path"]},
    }
    policy = make_policy([], tools)
    inside = f"{SANDBOX}/repo"
    assert decide(policy, tcall("srv", "read", path=inside)) == (
        "allow",
        "structural-sandbox-allow",
    )
    # the default ("additive"): a commit loses nothing, discharged like the other sandbox roles
    assert decide(policy, tcall("srv", "commit", path=inside)) == (
        "allow",
        "structural-sandbox-allow",
    )
    # discarding work with no rule covering it: a human decides (never a silent default deny)
    assert decide(policy, tcall("srv", "reset", path=inside)) == (
        "escalate",
        "structural-sandbox-history-escalate",
    )
    # "escalate": neither is discharged
    for tool in ("commit", "reset"):
        assert decide(policy, tcall("srv", tool, path=inside), sandbox_history="escalate") == (
            "escalate",
            "structural-sandbox-history-escalate",
        )
    # IronCurtain's behaviour on request: both discharged like the other roles
    for tool in ("commit", "reset"):
        assert decide(policy, tcall("srv", tool, path=inside), sandbox_history="allow") == (
            "allow",
            "structural-sandbox-allow",
        )
    outside = "/elsewhere/repo"
    assert decide(policy, tcall("srv", "commit", path=outside)) == ("deny", "default-deny")
    assert decide(policy, tcall("srv", "reset", path=outside)) == ("deny", "default-deny")
    # a rule covering discarded history decides it inside the sandbox (here: a deny)
    deny_reset = {"name": "no-reset", "then": "deny", "if": {"roles": ["delete-history"]}}
    policy = make_policy([deny_reset], tools)
    assert decide(policy, tcall("srv", "reset", path=inside)) == ("deny", "no-reset")
    allow_history = {"name": "history", "if": {"roles": ["write-history"]}}
    policy = make_policy([allow_history], tools)
    assert decide(policy, tcall("srv", "commit", path=inside), sandbox_history="escalate") == (
        "allow",
        "structural-sandbox-allow",
    )


def test_no_sandbox_means_no_structural_allow() -> None:
    policy = make_policy([])
    call = tcall("srv", "read", path=f"{SANDBOX}/a")
    assert decide(policy, call, sandbox=None) == ("deny", "default-deny")


def test_domain_gate_escalates_and_only_a_rule_deny_beats_it() -> None:
    tools = {"get": {"url": ["fetch-url"]}}
    allow = {"name": "allow-any", "if": {"domains": {"roles": ["fetch-url"], "allowed": ["*"]}}}
    deny = {
        "name": "deny-evil",
        "then": "deny",
        "if": {"domains": {"roles": ["fetch-url"], "allowed": ["evil.com"]}},
    }
    policy = make_policy([deny, allow], tools)
    gate = {"srv": ("*.good.com",)}
    call = tcall("srv", "get", url="https://other.com/")
    assert decide(policy, call, allowed_domains=gate) == ("escalate", "structural-domain-escalate")
    assert decide(policy, call) == ("allow", "allow-any")  # no gate for this server
    call = tcall("srv", "get", url="https://api.good.com/")
    assert decide(policy, call, allowed_domains=gate) == ("allow", "allow-any")
    call = tcall("srv", "get", url="https://evil.com/")
    assert decide(policy, call, allowed_domains=gate) == ("deny", "deny-evil")
    decision = evaluate(
        tcall("srv", "get", url="https://x.org/"), policy, tcontext(allowed_domains=gate)
    )
    assert decision.escalated_roles == ("fetch-url",)


# --- compiled rules ------------------------------------------------------------------------


def test_first_covering_rule_discharges_each_value_and_strictest_wins() -> None:
    tools = {"move": {"src": ["read-path", "delete-path"], "dst": ["write-path"]}}
    rules = [
        {"name": "read-tmp", "if": {"paths": {"roles": ["read-path"], "within": "/tmp"}}},
        {"name": "esc-delete", "then": "escalate", "if": {"roles": ["delete-path"]}},
        {"name": "write-tmp", "if": {"paths": {"roles": ["write-path"], "within": "/tmp"}}},
        {"name": "deny-write", "then": "deny", "if": {"roles": ["write-path"]}},
        {"name": "never-reached", "if": {"roles": ["delete-path"]}},
    ]
    policy = make_policy(rules, tools)
    call = tcall("srv", "move", src="/tmp/a", dst="/tmp/b")
    decision = evaluate(call, policy, tcontext())
    assert (decision.decision, decision.rule) == ("escalate", "esc-delete")
    assert decision.escalated_roles == ("delete-path",)
    call = tcall("srv", "move", src="/tmp/a", dst="/etc/b")
    assert decide(policy, call) == ("deny", "deny-write")


def test_an_undischarged_value_is_denied_by_default() -> None:
    tools = {"copy": {"src": ["read-path"], "dst": ["write-path"]}}
    rules = [{"name": "reads", "if": {"roles": ["read-path"]}}]
    policy = make_policy(rules, tools)
    assert decide(policy, tcall("srv", "copy", src="/a", dst="/b")) == ("deny", "default-deny")


def test_paths_compare_by_components_not_string_prefix() -> None:
    rules = [{"name": "srv-root", "if": {"paths": {"roles": ["read-path"], "within": "/srv/root"}}}]
    policy = make_policy(rules)
    assert decide(policy, tcall("srv", "read", path="/srv/root/a")) == ("allow", "srv-root")
    assert decide(policy, tcall("srv", "read", path="/srv/root")) == ("allow", "srv-root")
    assert decide(policy, tcall("srv", "read", path="/srv/root2/a")) == ("deny", "default-deny")
    assert decide(policy, tcall("srv", "read", path="/srv/ro")) == ("deny", "default-deny")


def test_rule_paths_expand_tilde_with_the_context_home() -> None:
    rules = [{"name": "docs", "if": {"paths": {"roles": ["read-path"], "within": "~/Documents"}}}]
    policy = make_policy(rules)
    call = tcall("srv", "read", path="/home/user/Documents/a")
    assert decide(policy, call) == ("allow", "docs")
    assert decide(policy, call, home="/home/other") == ("deny", "default-deny")


def test_a_call_with_no_role_values_is_decided_by_a_call_level_rule_only() -> None:
    tools = {"search": {"query": ["none"]}, "info": {"_sideEffects": False}}
    rules = [
        {"name": "role-rule", "if": {"roles": ["read-path"]}},
        {"name": "no-effects", "if": {"sideEffects": False}},
        {"name": "search-tool", "then": "escalate", "if": {"tool": ["search"]}},
    ]
    policy = make_policy(rules, tools)
    assert decide(policy, tcall("srv", "search", query="x")) == ("escalate", "search-tool")
    assert decide(policy, tcall("srv", "info")) == ("allow", "no-effects")
    assert decide(make_policy(rules[:1], tools), tcall("srv", "info")) == ("deny", "default-deny")


def test_server_and_tool_conditions_limit_a_rule() -> None:
    tools = {"read": {"path": ["read-path"]}, "peek": {"path": ["read-path"]}}
    rules = [{"name": "peek-only", "if": {"server": ["srv"], "tool": ["peek"]}}]
    policy = make_policy(rules, tools)
    assert decide(policy, tcall("srv", "peek", path="/a")) == ("allow", "peek-only")
    assert decide(policy, tcall("srv", "read", path="/a")) == ("deny", "default-deny")
    other = make_policy([{"name": "x", "if": {"server": ["elsewhere"]}}], tools)
    assert decide(other, tcall("srv", "peek", path="/a")) == ("deny", "default-deny")


def test_conditional_roles_follow_other_arguments_strictly() -> None:
    tools = {
        "edit": {
            "path": {
                "default": ["write-path"],
                "when": [
                    {"arg": "dry", "equals": True, "roles": ["read-path"]},
                    {"arg": "mode", "in": ["look", "peek"], "roles": ["read-path"]},
                ],
            },
            "dry": ["none"],
            "mode": ["none"],
        }
    }
    rules = [{"name": "reads", "if": {"roles": ["read-path"]}}]
    policy = make_policy(rules, tools)
    assert decide(policy, tcall("srv", "edit", path="/a", dry=True)) == ("allow", "reads")
    assert decide(policy, tcall("srv", "edit", path="/a", mode="peek")) == ("allow", "reads")
    for dry in (1, "true", False):  # JSON equality: 1 and "true" are not true
        assert decide(policy, tcall("srv", "edit", path="/a", dry=dry)) == ("deny", "default-deny")
    assert decide(policy, tcall("srv", "edit", path="/a")) == ("deny", "default-deny")


def test_an_absent_argument_with_when_absent_is_an_unknown_value() -> None:
    tools = {"push": {"remote": {"default": ["git-remote-url"], "whenAbsent": ["git-remote-url"]}}}
    domain_rule = {"name": "gh", "if": {"domains": {"roles": ["git-remote-url"], "allowed": ["*"]}}}
    role_rule = {"name": "esc", "then": "escalate", "if": {"roles": ["git-remote-url"]}}
    policy = make_policy([domain_rule, role_rule], tools)
    assert decide(policy, tcall("srv", "push")) == ("escalate", "esc")
    assert decide(policy, tcall("srv", "push", remote="origin")) == ("escalate", "esc")
    call = tcall("srv", "push", remote="https://github.com/a/b")
    assert decide(policy, call) == ("allow", "gh")
    assert decide(make_policy([domain_rule], tools), tcall("srv", "push")) == (
        "deny",
        "default-deny",
    )


def test_nested_argument_paths_are_checked_value_by_value() -> None:
    tools = {"batch": {"files": ["none"], "files[].path": ["write-path"], "files[].body": ["none"]}}
    policy = make_policy(
        [{"name": "tmp", "if": {"paths": {"roles": ["write-path"], "within": "/tmp"}}}], tools
    )
    good = [{"path": "/tmp/a", "body": "x"}, {"path": "/tmp/b"}]
    assert decide(policy, tcall("srv", "batch", files=good)) == ("allow", "tmp")
    bad = [*good, {"path": "/etc/passwd", "body": ""}]
    assert decide(policy, tcall("srv", "batch", files=bad)) == ("deny", "default-deny")
    smuggled = [{"path": "/tmp/a", "mode": "0777"}]
    assert decide(policy, tcall("srv", "batch", files=smuggled)) == ("deny", "invalid-arguments")
    assert decide(policy, tcall("srv", "batch", files={"path": "/tmp/a"})) == (
        "deny",
        "invalid-arguments",
    )


def test_lists_expand_with_manual_changes_and_a_missing_list_matches_nothing() -> None:
    tools = {"get": {"url": ["fetch-url"]}, "repo": {"owner": ["github-owner"]}}
    lists = {
        "sites": {
            "values": ["a.com", "b.com"],
            "manualAdditions": ["c.com"],
            "manualRemovals": ["b.com"],
        },
        "owners": {"values": ["Acme"]},
    }
    rules = [
        {
            "name": "sites",
            "if": {"domains": {"roles": ["fetch-url"], "allowed": ["@sites", "@ghost"]}},
        },
        {
            "name": "owners",
            "if": {
                "lists": [
                    {"roles": ["github-owner"], "allowed": ["@owners"], "matchType": "identifiers"}
                ]
            },
        },
    ]
    policy = make_policy(rules, tools, lists)
    assert policy.missing_lists == ("ghost",)
    assert decide(policy, tcall("srv", "get", url="https://a.com/")) == ("allow", "sites")
    assert decide(policy, tcall("srv", "get", url="https://c.com/")) == ("allow", "sites")
    assert decide(policy, tcall("srv", "get", url="https://b.com/")) == ("deny", "default-deny")
    # identifiers compare exactly unless the rule says "match": "folded" (IronCurtain's default)
    assert decide(policy, tcall("srv", "repo", owner="Acme")) == ("allow", "owners")
    assert decide(policy, tcall("srv", "repo", owner="acme")) == ("deny", "default-deny")
    assert decide(policy, tcall("srv", "repo", owner="acme2")) == ("deny", "default-deny")
    rules[1]["if"]["lists"][0]["match"] = "folded"
    policy = make_policy(rules, tools, lists)
    assert decide(policy, tcall("srv", "repo", owner=" acme")) == ("allow", "owners")


# --- totality and resolution ---------------------------------------------------------------


def test_a_failing_resolver_denies_as_engine_error() -> None:
    policy = make_policy([ALLOW_ALL])

    def broken(path: str) -> str:
        raise OSError("disk on fire")

    call = tcall("srv", "read", path="/a")
    assert decide(policy, call, resolve_path=broken) == ("deny", "engine-error")
    assert decide(policy, call, resolve_path=lambda p: "relative") == ("deny", "engine-error")


def test_each_path_is_resolved_once_per_decision() -> None:
    tools = {"move": {"src": ["read-path", "delete-path"], "dst": ["write-path"]}}
    policy = make_policy([ALLOW_ALL], tools)
    seen: list[str] = []

    def counting(path: str) -> str:
        seen.append(path)
        return lexical(path)

    context = tcontext(resolve_path=counting)
    evaluate(tcall("srv", "move", src="/a/x", dst="/a/x"), policy, context)
    first = list(seen)
    seen.clear()
    evaluate(tcall("srv", "move", src="/a/x", dst="/b/y"), policy, context)
    assert seen == ["/a/x", "/b/y"]  # sandbox and patterns were resolved once, on first use
    assert first.count("/a/x") == 1


def test_decision_is_a_frozen_object() -> None:
    decision = evaluate(tcall("srv", "read", path="/a"), make_policy([]), tcontext())
    assert isinstance(decision, Decision)
    with pytest.raises(Exception):  # noqa: B017 -- pydantic's frozen error type is an internal
        decision.rule = "other"  # type: ignore[misc]


def test_context_refuses_relative_folders() -> None:
    with pytest.raises(ValueError, match="absolute"):
        EvalContext(home="relative/home")
    with pytest.raises(ValueError, match="absolute"):
        EvalContext(home="/h", protected_patterns=("x/config.json",))


def test_extract_roles_reports_every_value_nested_included() -> None:
    policy = shipped_policy()
    call = tcall("filesystem", "move_file", source="/a", destination="/b")
    assert extract_roles(call, policy) == {
        "read-path": ("/a",),
        "delete-path": ("/a",),
        "write-path": ("/b",),
    }
    push = tcall("git", "git_push", path="/r")
    assert extract_roles(push, policy) == {"read-path": ("/r",), "git-remote-url": ("",)}
    assert extract_roles(tcall("git", "nope"), policy) == {}


def test_relative_paths_start_from_the_servers_base() -> None:
    policy = make_policy(
        [{"name": "tmp", "if": {"paths": {"roles": ["read-path"], "within": "/tmp"}}}]
    )
    call = tcall("srv", "read", path="notes.txt")
    assert decide(policy, call) == ("allow", "structural-sandbox-allow")
    assert decide(policy, call, path_bases={"srv": "/tmp/work"}) == ("allow", "tmp")
    assert decide(policy, call, path_bases={"other": None}) == ("allow", "structural-sandbox-allow")
    assert decide(policy, call, path_bases={"srv": None}) == ("deny", "invalid-arguments")
    absolute = tcall("srv", "read", path="/tmp/a")
    assert decide(policy, absolute, path_bases={"srv": None}) == ("allow", "tmp")
    with pytest.raises(ValueError, match="absolute"):
        tcontext(path_bases={"srv": "relative"})
