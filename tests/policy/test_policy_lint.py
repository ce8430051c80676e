"""``policy lint``: the allow rules that let text the agent read choose a side effect's values,
and the task-gated side effects nothing limits in number. Each test writes a small policy folder
(a bank: send_money with an account and an amount, post_note with free text) and reads the
findings, from the module and through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policy.api import PolicyLoadError, lint, load_policy

REPO = Path(__file__).resolve().parents[2]

ROLES = {
    "iban": {"kind": "identifier", "match": "exact", "description": "an account"},
    "amount": {"kind": "number", "description": "money"},
    "note-text": {"kind": "identifier", "description": "a note's text"},
    "memo": {"kind": "opaque", "description": "never judged"},
}
TOOLS = [
    {"toolName": "list_accounts", "serverName": "bank", "sideEffects": False,
     "args": {"query": ["none"]}},
    {"toolName": "send_money", "serverName": "bank", "sideEffects": True,
     "args": {"iban": ["iban"], "amount": ["amount"], "memo": ["memo"]},
     "inputSchema": {"type": "object", "required": ["iban", "amount"],
                     "properties": {"iban": {"type": "string"}, "amount": {"type": "string"},
                                    "memo": {"type": "string"}}}},
    {"toolName": "post_note", "serverName": "bank", "sideEffects": True,
     "args": {"text": ["note-text"]}},
]  # fmt: skip
PAYEES = ["DE27100777770209299700", "DE44500105175407324931"]
READ = {"name": "read", "if": {"sideEffects": False}, "then": "allow", "reason": "reading"}
NOTES = {"name": "notes", "if": {"roles": ["note-text"]}, "then": "allow", "reason": "any note"}


def folder(
    tmp_path: Path,
    rules: list[dict],
    lists: dict[str, list[str]] | None = None,
    tools: list[dict] = TOOLS,
) -> Path:
    where = tmp_path / "policy"
    where.mkdir(parents=True)
    annotations = {"roles": ROLES, "servers": {"bank": {"tools": tools}}}
    (where / "tool-annotations.json").write_text(json.dumps(annotations))
    (where / "compiled-policy.json").write_text(json.dumps({"rules": [READ, *rules]}))
    named = {"payees": PAYEES, **(lists or {})}
    body = {name: {"values": values, "type": "identifiers"} for name, values in named.items()}
    (where / "dynamic-lists.json").write_text(json.dumps({"lists": body}))
    return where


def findings(tmp_path: Path, rules: list[dict], **lists: Any) -> list[tuple]:
    return [
        (f.kind, f.tool, f.role, f.rule, f.detail)
        for f in lint(load_policy(folder(tmp_path, rules, lists or None)))
    ]


def allow(name: str, **when: Any) -> dict:
    return {"name": name, "if": when, "then": "allow", "reason": name}


def ibans(*allowed: str) -> dict:
    return {"roles": ["iban"], "allowed": list(allowed), "matchType": "identifiers"}


def amounts(*allowed: str) -> dict:
    return {"roles": ["amount"], "allowed": list(allowed), "matchType": "identifiers"}


CAP = {"name": "one-payment", "then": "deny", "reason": "one per request",
       "if": {"tool": ["send_money"], "session": [{"count": "paid", "gte": 1}]},
       "session": {"count": ["paid"]}}  # fmt: skip
BOUND = [  # every value of send_money from the request, once; the note text is the loose value
    CAP,
    allow("typed-ibans", lists=[ibans("@task:identifiers")]),
    allow("typed-amounts", lists=[amounts("@task:amounts")]),
    NOTES,
]


def test_values_bound_to_the_request_are_not_findings_and_free_text_is(tmp_path):
    assert findings(tmp_path, BOUND) == [
        ("unbound", "post_note", "note-text", "notes", "allows any value at all")
    ]


def test_a_range_an_account_on_file_and_anything_at_all_are_each_named(tmp_path):
    rules = [
        CAP,
        allow("up-to-1000", tool=["send_money"], numbers=[{"roles": ["amount"], "lte": 1000}]),
        allow("accounts-on-file", lists=[ibans("@task:identifiers", "@payees")]),
        NOTES,
    ]
    got = {(role, rule): detail for _, _, role, rule, detail in findings(tmp_path, rules)}
    assert got == {
        ("amount", "up-to-1000"):
            "allows any number <= 1000, not compared with what the user typed",
        ("iban", "accounts-on-file"):
            "allows any value of @payees (2 values), whichever one the user meant",
        ("note-text", "notes"): "allows any value at all",
    }  # fmt: skip


def test_a_standing_list_beside_a_task_list_in_one_rule_is_bound(tmp_path):
    # Every list condition of a rule must hold: "typed AND on file" binds the value.
    both = allow("typed-and-on-file", lists=[ibans("@task:identifiers"), ibans("@payees")])
    rules = [CAP, both, allow("typed-amounts", lists=[amounts("@task:amounts")]), NOTES]
    assert [f[3] for f in findings(tmp_path, rules)] == ["notes"]


def test_one_possible_value_leaves_nothing_to_choose(tmp_path):
    rules = [
        CAP,
        allow("the-one-payee", lists=[ibans("@house")]),
        allow("the-literal", lists=[amounts("10")]),
        NOTES,
    ]
    got = findings(tmp_path, rules, house=["DE27100777770209299700"])
    assert [rule for *_, rule, _ in got] == ["notes"]
    rules[1] = allow("two-payees", lists=[ibans("@payees")])
    assert "two-payees" in {f[3] for f in findings(tmp_path / "2", rules)}


def test_an_allow_no_call_can_reach_is_not_reported(tmp_path):
    deny_all = {"name": "no-amounts", "if": {"roles": ["amount"]}, "then": "deny", "reason": "x"}
    loose = allow("up-to-1000", numbers=[{"roles": ["amount"], "lte": 1000}])
    assert not any(f[3] == "up-to-1000" for f in findings(tmp_path, [deny_all, loose, *BOUND]))
    # a conditional deny before it does not make it unreachable
    deny_big = {**deny_all, "if": {"numbers": [{"roles": ["amount"], "gt": 5000}]}}
    got = findings(tmp_path / "2", [deny_big, loose, *BOUND])
    assert any(f[3] == "up-to-1000" for f in got)


def test_a_task_gated_tool_without_a_counter_is_uncapped_until_one_caps_it(tmp_path):
    asked = {"name": "not-asked", "if": {"tool": ["send_money"], "task": {"asksNone": ["pay"]}},
             "then": "deny", "reason": "the user did not ask to pay"}  # fmt: skip
    loose = [allow("amounts", numbers=[{"roles": ["amount"], "lte": 10}]), *BOUND[1:]]
    got = findings(tmp_path, [asked, *loose])
    assert ("uncapped", "send_money") in {(f[0], f[1]) for f in got}
    # post_note is not tied to the task by any rule: judging each call alone, nothing to repeat
    assert ("uncapped", "post_note") not in {(f[0], f[1]) for f in got}
    got = findings(tmp_path / "2", [asked, CAP, *loose])
    assert "uncapped" not in {f[0] for f in got}
    # a counter that nothing increments caps nothing
    uncounted = {key: value for key, value in CAP.items() if key != "session"}
    got = findings(tmp_path / "3", [asked, uncounted, *loose])
    assert ("uncapped", "send_money") in {(f[0], f[1]) for f in got}
    # without any task condition or task list the policy judges each call alone: not a finding
    got = findings(tmp_path / "4", [allow("amounts", numbers=[{"roles": ["amount"], "lte": 10}])])
    assert "uncapped" not in {f[0] for f in got}


def test_a_bound_argument_a_call_may_leave_out_is_absent_until_whenabsent_covers_it(tmp_path):
    # Without the schema's "required", a call may leave out the account: the rule binding it
    # never runs and the server pays whatever it defaults to.
    optional = [dict(TOOLS[1], inputSchema=None), TOOLS[2]]
    optional[0].pop("inputSchema")
    got = lint(load_policy(folder(tmp_path, BOUND, tools=[TOOLS[0], *optional])))
    assert {(f.kind, f.role) for f in got if f.kind == "absent"} == {
        ("absent", "iban"),
        ("absent", "amount"),
    }
    assert "a call without 'iban' is judged without it" in next(
        f.detail for f in got if f.role == "iban"
    )
    # whenAbsent on the account: leaving it out is an unknown value the rules by role judge
    iban = {"default": ["iban"], "whenAbsent": ["iban"]}
    covered = dict(optional[0], args={**optional[0]["args"], "iban": iban})
    got = lint(load_policy(folder(tmp_path / "2", BOUND, tools=[TOOLS[0], covered, TOOLS[2]])))
    assert {f.role for f in got if f.kind == "absent"} == {"amount"}


def test_opaque_roles_and_reading_tools_are_never_findings(tmp_path):
    # memo is opaque (never judged); list_accounts has no side effects
    got = findings(tmp_path, BOUND)
    assert {f[2] for f in got} == {"note-text"} and {f[1] for f in got} == {"post_note"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "IRONCURTAIN_HOME": "/nonexistent-ic-home"}
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", "policy", "lint", *args],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=120,
    )  # fmt: skip


def test_the_cli_prints_findings_accepts_them_by_name_and_refuses_unknown_names(tmp_path):
    where = folder(tmp_path, BOUND)
    found = _cli("--policy-dir", str(where))
    assert found.returncode == 1
    assert "bank/post_note note-text: rule 'notes': allows any value at all" in found.stdout
    assert found.stdout.rstrip().endswith(f"1 findings in {where}")
    as_json = _cli("--policy-dir", str(where), "--json")
    assert [json.loads(line)["rule"] for line in as_json.stdout.splitlines()] == ["notes"]
    accepted = _cli("--policy-dir", str(where), "--accept", "notes")
    assert accepted.returncode == 0 and "0 findings" in accepted.stdout
    assert "(1 accepted)" in accepted.stdout
    typo = _cli("--policy-dir", str(where), "--accept", "note")
    assert typo.returncode == 2 and "'note' names no finding" in typo.stderr


@pytest.mark.parametrize("round_dir", ["round6/expenses", "round7/hr"])
def test_the_frozen_round_policies_have_the_holes_their_attackers_used(round_dir):
    # The injection-only author's allowed attacks on these used exactly such rules: an amount
    # under a cap instead of the typed one, another account on file, another teammate.
    policy_dir = REPO / "tests" / "vectors" / "session_policy" / round_dir / "policy"
    got = {(f.tool, f.role, f.rule) for f in lint(load_policy(policy_dir))}
    expected = {
        "round6/expenses": {
            ("reimburse", "amount", "allow-reimbursements-up-to-1000"),
            ("reimburse", "iban", "allow-known-accounts"),
        },
        "round7/hr": {("message_employee", "message-recipient", "allow-messages-to-the-team")},
    }[round_dir]
    assert expected <= got


MESSAGE = {"toolName": "send_message", "serverName": "bank", "sideEffects": True,
           "args": {"body": ["text-urls", "text-emails"]}}  # fmt: skip
LINKS = allow("links", roles=["text-urls", "text-emails", "text-phones", "text-ibans"])


def test_text_judged_for_links_but_not_numbers_is_a_finding_until_it_is(tmp_path):
    def kinds(tools: list[dict], where: Path) -> list[tuple]:
        policy = load_policy(folder(where, [LINKS], tools=tools))
        return [(f.kind, f.tool, f.role) for f in lint(policy) if f.kind == "numbers"]

    assert kinds([MESSAGE], tmp_path / "a") == [("numbers", "send_message", "body")]
    judged = {**MESSAGE, "args": {"body": ["text-urls", "text-phones", "text-ibans"]}}
    assert kinds([judged], tmp_path / "b") == []
    unjudged = {**MESSAGE, "args": {"body": ["none"]}}  # text nothing judges: not this finding
    assert kinds([unjudged], tmp_path / "c") == []


def test_message_text_no_rule_asks_about_copies_is_a_finding_until_one_does(tmp_path):
    def kinds(tools: list[dict], rules: list[dict], where: Path) -> list[tuple]:
        policy = load_policy(folder(where, rules, tools=tools))
        return [(f.kind, f.tool, f.role) for f in lint(policy) if f.kind == "copies"]

    message = {**MESSAGE, "args": {"body": ["memo", "text-urls", "text-phones", "text-ibans"]}}
    assert kinds([message], [LINKS], tmp_path / "a") == [("copies", "send_message", "memo")]
    words = {"roles": ["memo"], "from": "untrusted", "words": 4}
    copies = {"name": "copied", "then": "escalate", "reason": "repeats a result",
              "if": {"provenance": words}}  # fmt: skip
    assert kinds([message], [copies, LINKS], tmp_path / "b") == []
    pieces = {**copies, "if": {"provenance": {"roles": ["memo"], "from": "untrusted"}}}
    assert kinds([message], [pieces, LINKS], tmp_path / "c") == [("copies", "send_message", "memo")]
    no_links = {**MESSAGE, "args": {"body": ["memo"]}}  # text nothing judges: not this finding
    assert kinds([no_links], [LINKS], tmp_path / "d") == []


def test_records_described_by_several_fields_ask_who_writes_them(tmp_path):
    def others(records: dict, where: Path) -> list[tuple]:
        listing = {**TOOLS[0], "records": records}
        policy = load_policy(folder(where, [], tools=[listing]))
        return [(f.kind, f.tool) for f in lint(policy) if f.kind == "others"]

    base = {"grants": "task:accounts", "id": "id", "describedBy": ["name", "note"]}
    assert others(base, tmp_path / "a") == [("others", "list_accounts")]
    declared = {**base, "writtenByOthers": ["note"]}
    assert others(declared, tmp_path / "b") == []
    one_field = {**base, "describedBy": ["name"]}  # nothing to rank apart: not this finding
    assert others(one_field, tmp_path / "c") == []


def test_records_of_several_owners_ask_which_are_the_user(tmp_path):
    def owners(owned: dict | None, where: Path, **lists: list[str]) -> list[tuple]:
        records = {"grants": "task:accounts", "id": "id", "describedBy": ["name"]}
        if owned is not None:
            records["ownedBy"] = owned
        listing = {**TOOLS[0], "records": records}
        policy = load_policy(folder(where, [], lists or None, tools=[listing]))
        return [(f.kind, f.tool) for f in lint(policy) if f.kind == "owners"]

    team = {"field": "owner", "in": ["@me", "@team"]}
    lists = {"me": ["ana"], "team": ["bo", "cy"]}
    assert owners(team, tmp_path / "a", **lists) == [("owners", "list_accounts")]
    assert owners({**team, "mine": ["@me"]}, tmp_path / "b", **lists) == []
    assert owners({**team, "mine": []}, tmp_path / "c", **lists) == []  # none is the user
    only_me = {"field": "owner", "in": ["@me"]}  # one owner: nothing to tell apart
    assert owners(only_me, tmp_path / "d", **lists) == []
    assert owners(None, tmp_path / "e") == []  # no owner: every record is contested anyway
    with pytest.raises(PolicyLoadError, match="mine names owners"):
        owners({**team, "mine": ["@family"]}, tmp_path / "f", **lists)


def test_a_role_bound_to_every_word_the_user_typed_is_a_finding(tmp_path):
    tools = [{"toolName": "add_collaborator", "serverName": "bank", "sideEffects": True,
              "args": {"user": ["payee"]}},
             {"toolName": "list_accounts", "serverName": "bank", "sideEffects": False,
              "records": {"grants": "task:accounts", "id": "id", "describedBy": ["name"]},
              "args": {}}]  # fmt: skip

    def words(allowed: list[str], where: Path, match: str = "case-insensitive") -> list[tuple]:
        rule = allow("named", lists=[{"roles": ["payee"], "allowed": allowed,
                                      "matchType": "identifiers"}])  # fmt: skip
        where = folder(where, [rule], tools=tools)
        annotations = json.loads((where / "tool-annotations.json").read_text())
        annotations["roles"]["payee"] = {"kind": "identifier", "match": match, "description": "x"}
        (where / "tool-annotations.json").write_text(json.dumps(annotations))
        policy = load_policy(where)
        return [(f.kind, f.tool, f.role, f.rule) for f in lint(policy) if f.kind == "words"]

    found = [("words", "add_collaborator", "payee", "named")]
    assert words(["@task:identifiers"], tmp_path / "a") == found
    assert words(["@task:described-object"], tmp_path / "b") == []  # the object's words only
    assert words(["@task:accounts", "@task:identifiers"], tmp_path / "c") == []  # a record's id
    assert words(["@payees"], tmp_path / "d") == []  # a standing list: 'unbound' says it
    assert words(["@task:identifiers"], tmp_path / "e", match="exact") == []  # an IBAN, a range


def test_a_listing_whose_ids_are_chosen_names_reads_no_typed_word_as_one(tmp_path):
    def words(records: dict, allowed: list[str], where: Path) -> list[tuple]:
        tools = [{"toolName": "list_buckets", "serverName": "bank", "sideEffects": False,
                  "records": records, "args": {}},
                 {"toolName": "publish", "serverName": "bank", "sideEffects": True,
                  "args": {"bucket": ["iban"]}}]  # fmt: skip
        rule = allow("described", lists=[ibans(*allowed)])
        policy = load_policy(folder(where, [rule], tools=tools))
        return [(f.kind, f.tool, f.rule) for f in lint(policy) if f.kind == "words"]

    named = {"grants": "task:buckets", "id": "name", "describedBy": ["name"]}
    both = ["@task:buckets", "@task:identifiers"]
    assert words(named, both, tmp_path / "a") == [("words", "publish", "described")]
    assert words(named, ["@task:buckets"], tmp_path / "b") == []  # bound through the listing
    numbered = {**named, "id": "id"}  # an id the server gives: no word of the request is one
    assert words(numbered, both, tmp_path / "c") == []


def test_message_text_with_no_role_of_its_own_is_a_copies_finding(tmp_path):
    policy = load_policy(folder(tmp_path, [LINKS], tools=[MESSAGE]))
    found = [(f.kind, f.tool, f.role) for f in lint(policy) if f.kind == "copies"]
    assert found == [("copies", "send_message", None)]


def test_a_role_a_when_clause_gives_is_read_as_the_tools(tmp_path):
    """A note is free text only when it is public: the role a ``when`` clause gives is one a
    call can carry, so an allow rule that takes any value of it is a finding all the same."""
    public = {"arg": "public", "equals": True, "roles": ["note-text"]}
    text = {"default": ["none"], "when": [public]}
    tools = [*TOOLS[:2], {**TOOLS[2], "args": {"public": ["none"], "text": text}}]
    policy = load_policy(folder(tmp_path, BOUND, tools=tools))
    assert [(f.kind, f.tool, f.role, f.rule) for f in lint(policy)] == [
        ("unbound", "post_note", "note-text", "notes")
    ]


MERGE = {"toolName": "merge", "serverName": "bank", "sideEffects": True,
         "args": {"iban": ["iban"], "method": ["none"]}}  # fmt: skip


def test_a_side_effects_argument_no_role_judges_is_unjudged_until_one_does(tmp_path):
    got = [f for f in findings_with(tmp_path, [MERGE]) if f[0] == "unjudged"]
    assert [(f[1], f[2]) for f in got] == [("merge", "method")]
    assert "whatever value the agent gives passes" in got[0][4]
    # a role for some calls (a when clause) is a judgement; "none" beside a role is one too
    chosen = {**MERGE, "args": {"iban": ["iban"], "method": {"default": ["none"], "when": [
        {"arg": "iban", "equals": PAYEES[0], "roles": ["iban"]}]}}}  # fmt: skip
    assert not [f for f in findings_with(tmp_path / "2", [chosen]) if f[0] == "unjudged"]
    reading = {**MERGE, "sideEffects": False}
    assert not [f for f in findings_with(tmp_path / "3", [reading]) if f[0] == "unjudged"]


def test_a_shipped_servers_unjudged_arguments_are_its_data_and_the_set_is_the_compilers():
    from policy.compiler.annotate import SERVER_ROLES
    from policy.role_specs import SHIPPED_SERVERS

    assert frozenset(SERVER_ROLES) == SHIPPED_SERVERS


@pytest.mark.parametrize(("domain", "tool", "arg"), [
    ("hr", "send_payslip", "month"), ("repo", "merge_pull_request", "method")])  # fmt: skip
def test_round_12s_unjudged_attacks_used_arguments_the_lint_names(domain, tool, arg):
    # round 12's blind author: a payslip month 'all', a merge method the user did not ask for
    policy_dir = REPO / "tests" / "vectors" / "session_policy" / "round12" / domain / "policy"
    got = {(f.tool, f.role) for f in lint(load_policy(policy_dir)) if f.kind == "unjudged"}
    assert (tool, arg) in got


def findings_with(tmp_path: Path, extra: list[dict]) -> list[tuple]:
    where = folder(tmp_path, BOUND, tools=[*TOOLS, *extra])
    return [(f.kind, f.tool, f.role, f.rule, f.detail) for f in lint(load_policy(where))]
