"""Attacks on ``policy.compiler.harden.narrowing``: LLM revisions that widened, once.

Each test builds verified rules and a revision that ``check_rules`` accepts and that made the
engine allow a call the verified rules did not (a review found each as a bypass of the first
``narrowing``). Each now shows the widening with the engine, then that ``narrowing`` refuses the
revision, naming why.
"""

from __future__ import annotations

import copy

from policy.compiler.annotate import AnnotatedServer
from policy.compiler.artifacts import annotations_file
from policy.compiler.harden import narrowing
from policy.compiler.rules import check_rules
from policy.loader import Policy, load_policy
from policy.models import EvalContext, Rule, ToolAnnotationsFile
from policy.paths import lexical
from policy.scenarios import Scenario, run_sequence
from tests.compiler.test_session_aware_compile import (
    ANNOTATE,
    LOOSE,
    RULES,
    TYPED,
    _answers,
    _hardened,
    run,
)

CTX = EvalContext(home="/home/user", resolve_path=lexical)
IBAN = "DE89370400440532013000"
R = {r["name"]: r for r in RULES["rules"]}


def _rules(raw) -> tuple[Rule, ...]:
    return tuple(Rule.model_validate(r) for r in raw)


def _policy(rules: tuple[Rule, ...]) -> Policy:
    server = AnnotatedServer.model_validate(ANNOTATE)
    return Policy.build(
        rules, ToolAnnotationsFile.model_validate(annotations_file({"bank": server}, ""))
    )


def _checked(original: list, revised: list) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    """Both rule sets, each passing check_rules for the bank (as a first answer must)."""
    server = AnnotatedServer.model_validate(ANNOTATE)
    before, after = _rules(original), _rules(revised)
    check_rules("bank", server, before)
    check_rules("bank", server, after)
    return before, after


def _accepted(original: list, revised: list, refused: str) -> tuple[Policy, Policy]:
    """Both rule sets pass check_rules, and narrowing refuses the revision with ``refused`` in
    its reason; both policies, for the caller to show the widening with the engine."""
    before, after = _checked(original, revised)
    why = narrowing(before, after)
    assert why is not None and refused in why, why
    return _policy(before), _policy(after)


def _pay(amount, iban=IBAN, memo=None) -> dict:
    arguments = {"iban": iban, "amount": amount}
    if memo is not None:
        arguments["memo"] = memo
    return {"serverName": "bank", "toolName": "send_money", "arguments": arguments}


READ = {"serverName": "bank", "toolName": "list_transactions", "arguments": {"days": 30}}


def _decide(policy: Policy, request: dict, task: str | None = None, steps=()):
    scenario = Scenario.model_validate(
        {
            "description": "attack",
            "task": task,
            "steps": list(steps),
            "request": request,
            "expectedDecision": "allow",
        }
    )
    return run_sequence(scenario, policy, CTX).decision


# --- 1. a list entry on a role the rule did not cover makes it cover that role --------------


def test_list_entry_on_a_new_role_makes_the_rule_cover_it():
    """``may_cover`` lets a rule with ``lists`` cover only the roles its entries name. A new
    entry on ``amount`` ("gain conditions": accepted) makes the payee rule cover amounts too,
    so an amount no rule allowed (over 1000: default deny) is now allowed by the payee rule."""
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        R["pay-whom-the-user-named"],
        {
            "name": "pay-up-to-a-thousand",
            "if": {
                "server": ["bank"],
                "tool": ["send_money"],
                "numbers": [{"roles": ["amount"], "lte": 1000}],
            },
            "then": "allow",
            "reason": "small payments",
        },
    ]
    revised = copy.deepcopy(original)
    revised[2]["if"]["lists"].append(
        {"roles": ["amount"], "allowed": ["*"], "matchType": "identifiers"}
    )
    before, after = _accepted(
        original, revised, "it gains a 'lists' entry on a role it did not cover"
    )
    assert _decide(before, _pay(5000), TYPED).decision == "deny"
    got = _decide(after, _pay(5000), TYPED)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


def test_list_entry_on_a_new_role_is_refused_by_the_whole_harden_stage(script, tmp_path):
    """End to end (scripted LLM): the legitimate hardening of LOOSE plus an entry binding the
    amount to ``@task:identifiers`` on the payee rule. The stage keeps it (lint 2 -> 0, every
    scenario passes) and the installed policy allows an amount over the verified 1000 limit
    that the user typed only as a reference."""
    revision = _hardened()
    payee = next(r for r in revision["rules"] if r["name"] == "pay-whom-the-user-named")
    payee["if"]["lists"].append(
        {"roles": ["amount"], "allowed": ["@task:identifiers"], "matchType": "identifiers"}
    )
    report, lines = run(
        script, tmp_path, {**_answers(), "rules-bank": LOOSE, "harden-bank": revision}
    )
    [done] = report.hardened
    assert not done.kept and "on a role it did not cover" in done.refused, lines
    task = TYPED + ", invoice ref 9999"
    got = _decide(load_policy(tmp_path / "generated"), _pay(9999), task)
    assert got.decision == "deny"  # the verified rules stayed: amounts up to 1000


# --- 2. provenance ``words`` on an allow rule before a copy guard pre-empts the guard --------


def test_copy_provenance_on_an_earlier_allow_rule_preempts_the_copy_guard():
    """``_copied_texts``: the first rule with a ``provenance.words`` condition that covers an
    opaque text decides it, whatever its effect. An allow rule ahead of the verified copy guard
    gains ``provenance`` on the memo (a new condition: accepted) and now decides a copied memo
    as allow; the guard after it is never reached."""
    asked = {
        "name": "pay-when-asked",
        "if": {"server": ["bank"], "tool": ["send_money"], "task": {"mentions": ["pay"]}},
        "then": "allow",
        "reason": "the user asked to pay",
    }
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        asked,
        R["pay-whom-the-user-named"],
        R["pay-what-the-user-said"],
        R["ask-copied-memo"],
    ]
    revised = copy.deepcopy(original)
    revised[2]["if"]["provenance"] = {"roles": ["memo-text"], "from": "untrusted", "words": 3}
    before, after = _accepted(original, revised, "it gains a 'provenance' condition")
    note = "please include the reference ACME invoice settlement quarterly payment"
    steps = [{"request": READ, "result": f"2026-11-01 landlord -950 '{note}'"}]
    request = _pay(120, memo=note)
    assert _decide(before, request, TYPED, steps).rule == "ask-copied-memo"
    assert _decide(before, request, TYPED, steps).decision == "escalate"
    got = _decide(after, request, TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-when-asked")


# --- 3. a task ``asks`` condition rescopes @task: lists to a list that is not a subset -----


def test_task_asks_rescopes_task_lists_to_values_of_a_question():
    """A ``task`` condition with ``asks`` makes the rule read ``@task:identifiers`` and
    ``@task:amounts`` as the scoped lists of the instructions it accepts. Those were not a
    subset of the request's lists: "Pay X the 120 for the bike? (it's order #4711)" is a
    question, blanked from the request's lists, yet read as a "pay" instruction whose values
    fill the scoped lists."""
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        R["pay-whom-the-user-named"],
        R["pay-what-the-user-said"],
    ]
    revised = copy.deepcopy(original)
    for rule in revised[2:]:
        rule["if"]["task"] = {"asks": ["pay"]}
    before, after = _accepted(original, revised, "it gains a 'task' condition")
    task = "Pay DE89 3704 0044 0532 0130 00 the 120 for the bike? (it's order #4711)"
    assert _decide(before, _pay(120), task).decision == "deny"
    # and the engine: a scoped list holds only values the whole request grants too
    assert _decide(after, _pay(120), task).decision == "deny"


def test_task_asks_rescope_turns_a_reference_number_into_an_amount():
    """The same rescoping: "…, also #4711" gives the request no amount 4711 (a reference),
    but the scoped "pay" instruction is read as "…, 4711" and its amounts hold 4711."""
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        R["pay-whom-the-user-named"],
        R["pay-what-the-user-said"],
    ]
    revised = copy.deepcopy(original)
    revised[3]["if"]["task"] = {"asks": ["pay"]}
    before, after = _accepted(original, revised, "it gains a 'task' condition")
    task = "Pay DE89 3704 0044 0532 0130 00 the 120 for the bike, also #4711"
    assert _decide(before, _pay(120), task).decision == "allow"  # the typed amount still works
    assert _decide(before, _pay(4711), task).decision == "deny"
    assert _decide(after, _pay(4711), task).decision == "deny"  # the scope only narrows


# --- 4. a new count on a counter an escalate rule reads as a ceiling (lt) -------------------


def test_new_count_on_a_counter_an_escalate_rule_reads_with_lt():
    """``_added_updates`` refuses a count only on counters an *allow* rule reads with gt/gte.
    An escalate rule that asks while a counter is low ("the first payment of a task is
    confirmed": lt 1) stops holding sooner when another rule counts the same counter; the
    call falls through to the allow rule after it."""
    first = {
        "name": "ask-first-payment",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "payments", "lt": 1}],
        },
        "then": "escalate",
        "reason": "the first payment of a task is confirmed",
    }
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        first,
        R["pay-whom-the-user-named"],
        R["pay-what-the-user-said"],
    ]
    revised = copy.deepcopy(original)
    revised[0]["session"] = {"count": ["payments"]}  # a read now counts as a payment
    before, after = _accepted(
        original, revised, "rule 'read-transactions': it changes its session update"
    )
    steps = [{"request": READ, "result": "2026-11-01 landlord -950 rent"}]
    assert _decide(before, _pay(120), TYPED, steps).decision == "escalate"
    got = _decide(after, _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


# --- 5. dropping an allow rule drops the count a cap reads ----------------------------------


def test_dropping_the_counting_allow_rule_disarms_the_cap():
    """Every applicable rule's ``session`` update runs when a call goes ahead, whichever rule
    decided it. Dropping the allow rule that counts payments ("dropping an allow rule
    narrows") stops the count; a later allow rule still covers the payee, so the cap
    (gte 3) never bites. check_rules wants the counter kept: the read rule keeps it."""
    landlord = {
        "name": "pay-the-landlord",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "lists": [{"roles": ["payee"], "allowed": [IBAN], "matchType": "identifiers"}],
        },
        "then": "allow",
        "reason": "the landlord's IBAN",
    }
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        R["ask-after-three-payments"],
        R["pay-whom-the-user-named"],  # counts "payments"
        R["pay-what-the-user-said"],
        landlord,
    ]
    revised = [copy.deepcopy(r) for r in original if r["name"] != "pay-whom-the-user-named"]
    revised[0]["session"] = {"count": ["payments"]}  # keeps the counter for check_rules
    before, after = _accepted(original, revised, "whose session update a cap may read")
    steps = [{"request": _pay(120), "result": "ok"}] * 3
    assert _decide(before, _pay(120), TYPED, steps).rule == "ask-after-three-payments"
    got = _decide(after, _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-the-landlord")


# --- 6. a new rule's ``asks`` verb re-splits the request for every other rule ---------------


def test_a_new_asks_verb_splits_the_instruction_an_escalate_rule_reads():
    """Every ``asks`` entry's verb starts an instruction (``asks_verbs``) for the whole policy.
    A new escalate rule (on the read tool only) with ``asks: ["all"]`` cuts "…, all of the
    bills" out of the "pay" instruction, so the verified escalate rule ``asks: ["pay all"]``
    (kept exactly, as required) no longer holds and the payment falls to the allow rules."""
    bulk = {
        "name": "ask-pay-all",
        "if": {"server": ["bank"], "tool": ["send_money"], "task": {"asks": ["pay all"]}},
        "then": "escalate",
        "reason": "paying every bill at once is confirmed",
    }
    original = [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        bulk,
        R["pay-whom-the-user-named"],
        R["pay-what-the-user-said"],
    ]
    splitter = {
        "name": "ask-read-all",
        "if": {"server": ["bank"], "tool": ["list_transactions"], "task": {"asks": ["all"]}},
        "then": "escalate",
        "reason": "r",
    }
    revised = [*copy.deepcopy(original), splitter]
    before, after = _accepted(original, revised, "names instructions (asks)")
    task = "Pay DE89 3704 0044 0532 0130 00 the 120, all of the bills"
    assert _decide(before, _pay(120), task).rule == "ask-pay-all"
    got = _decide(after, _pay(120), task)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


# --- latent: deny rules (unreachable today: check_rules refuses "deny" in compiled rules) --


def test_a_deny_rule_is_kept_exactly():
    """A verified deny rule turned allow (not reachable while check_rules refuses deny rules
    in compiled rules, but narrowing() alone must hold its promise)."""
    deny = {
        "name": "never-pay-this",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "lists": [{"roles": ["payee"], "allowed": [IBAN], "matchType": "identifiers"}],
        },
        "then": "deny",
        "reason": "blocked",
    }
    original = _rules([deny, R["pay-whom-the-user-named"], R["pay-what-the-user-said"]])
    revised = _rules([{**deny, "then": "allow"}, R["pay-whom-the-user-named"],
                      R["pay-what-the-user-said"]])  # fmt: skip
    assert narrowing(original, revised) == "it changes deny rule 'never-pay-this'"
    assert narrowing(original, original) is None
    assert _decide(_policy(original), _pay(120), TYPED).decision == "deny"
    assert _decide(_policy(revised), _pay(120), TYPED).decision == "allow"
