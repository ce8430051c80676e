"""A third attack on ``policy.compiler.harden.narrowing``: revisions of session updates that
doubled or halved a counter (the session counts every entry of an update, a repeated one twice,
and equal updates of several rules once), and a reserved count that ended "ask while low".

Each test shows the widening with the engine, then that it is refused (the revision) or gone
(the engine: a call is judged also as if no call were waiting, and the stricter stands).
"""

from __future__ import annotations

import copy

from policy.compiler.harden import narrowing
from tests.compiler.test_harden_attacks import R, _checked, _decide, _pay, _policy, _rules
from tests.compiler.test_session_aware_compile import TYPED

CHANGED = "rule {!r}: it changes its session update (a new cap rule counts its own calls)"


# --- 1. a new count makes two equal updates distinct: a verified counter now counts twice ---


def test_a_new_count_splits_equal_updates_and_doubles_a_counter():
    """``updates_for`` counts each *distinct* update once. Two allow rules for send_money both
    say ``{"count": ["payments"]}``: one payment counts 1. Adding a count on a fresh counter to
    one of them (a new counter nobody reads or counts: accepted by ``_added_counts``) makes the
    updates differ, so each payment now counts ``payments`` twice. An escalate rule reading
    ``payments`` as "the first two payments are confirmed" (lt 2, kept exactly) stops holding
    after one payment."""
    first_two = {
        "name": "ask-first-two-payments",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "payments", "lt": 2}],
        },
        "then": "escalate",
        "reason": "the first two payments of a task are confirmed",
    }
    amount = copy.deepcopy(R["pay-what-the-user-said"])
    amount["session"] = {"count": ["payments"]}  # equal to the payee rule's update
    original = [R["read-transactions"], R["ask-payee-from-a-result"], first_two,
                R["pay-whom-the-user-named"], amount]  # fmt: skip
    revised = copy.deepcopy(original)
    revised[4]["session"] = {"count": ["payments", "amount-checks"]}  # a fresh counter
    before, after = _checked(original, revised)
    assert narrowing(before, after) == CHANGED.format("pay-what-the-user-said")
    steps = [{"request": _pay(120), "result": "ok", "approved": True}]
    got = _decide(_policy(before), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("escalate", "ask-first-two-payments")
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


FIRST_TWO = {
    "name": "ask-first-two-payments",
    "if": {
        "server": ["bank"],
        "tool": ["send_money"],
        "session": [{"count": "payments", "lt": 2}],
    },
    "then": "escalate",
    "reason": "the first two payments of a task are confirmed",
}


def test_a_repeated_count_entry_doubles_a_verified_counter():
    """``updates_from`` counts every entry of ``session.count``, a repeated one twice.
    ``_widened`` compares updates by membership and ``_added_counts`` skips an entry equal to
    one the rule had, so ``{"count": ["payments", "payments"]}`` on the one counting rule is
    accepted and each payment counts 2: "the first two payments are confirmed" ends after one."""
    original = [R["read-transactions"], R["ask-payee-from-a-result"], FIRST_TWO,
                R["pay-whom-the-user-named"], R["pay-what-the-user-said"]]  # fmt: skip
    revised = copy.deepcopy(original)
    revised[3]["session"] = {"count": ["payments", "payments"]}
    before, after = _checked(original, revised)
    assert narrowing(before, after) == CHANGED.format("pay-whom-the-user-named")
    steps = [{"request": _pay(120), "result": "ok", "approved": True}]
    got = _decide(_policy(before), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("escalate", "ask-first-two-payments")
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


def test_reordering_counts_makes_two_updates_equal_and_halves_the_cap():
    """Two allow rules for send_money count the same counters in another order
    (``["payments", "transfers"]`` and ``["transfers", "payments"]``): distinct updates, so a
    payment counts 2 and "two payments" is ``gte 4``. Reordering one rule's counts (membership
    is all ``_widened`` compares) makes the updates equal: counted once, the cap bites at the
    fourth payment instead of the third."""
    cap = {
        "name": "ask-after-two-payments",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "payments", "gte": 4}],
        },
        "then": "escalate",
        "reason": "two payments (each counted by both rules) in one task already",
    }
    payee = copy.deepcopy(R["pay-whom-the-user-named"])
    payee["session"] = {"count": ["payments", "transfers"]}
    amount = copy.deepcopy(R["pay-what-the-user-said"])
    amount["session"] = {"count": ["transfers", "payments"]}
    original = [R["read-transactions"], R["ask-payee-from-a-result"], cap, payee, amount]
    revised = copy.deepcopy(original)
    revised[3]["session"] = {"count": ["transfers", "payments"]}
    before, after = _checked(original, revised)
    assert narrowing(before, after) == CHANGED.format("pay-whom-the-user-named")
    steps = [{"request": _pay(120), "result": "ok"}] * 2
    assert _decide(_policy(before), _pay(120), TYPED, steps).rule == "ask-after-two-payments"
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


def test_dropping_a_repeated_count_entry_halves_the_cap():
    """The converse of the repeated entry: a verified ``{"count": ["payments", "payments"]}``
    (each payment counts 2, the cap ``gte 4`` bites at the third payment) revised to
    ``["payments"]``: every entry it had is still "in" the update, so it is accepted, and the
    cap bites two payments later."""
    cap = {
        "name": "ask-after-two-payments",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "payments", "gte": 4}],
        },
        "then": "escalate",
        "reason": "two payments in one task already",
    }
    payee = copy.deepcopy(R["pay-whom-the-user-named"])
    payee["session"] = {"count": ["payments", "payments"]}
    original = [R["read-transactions"], R["ask-payee-from-a-result"], cap, payee,
                R["pay-what-the-user-said"]]  # fmt: skip
    revised = copy.deepcopy(original)
    revised[3]["session"] = {"count": ["payments"]}
    before, after = _checked(original, revised)
    assert narrowing(before, after) == CHANGED.format("pay-whom-the-user-named")
    steps = [{"request": _pay(120), "result": "ok"}] * 2
    assert _decide(_policy(before), _pay(120), TYPED, steps).rule == "ask-after-two-payments"
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")


def test_the_split_counter_is_refused_by_the_whole_harden_stage(script, tmp_path):
    """End to end (scripted LLM): verified rules confirm the first two payments (lt 2) and let
    two allow rules count ``payments`` with equal updates; the lint finds the amount unbound and
    the tool uncapped. The revision binds the amount, adds a cap, and gives the amount rule a
    fresh second counter. The stage keeps it (every scenario passes, 2 findings -> 0), and in
    the installed policy the second payment of a task is allowed unasked."""
    from policy.loader import load_policy
    from tests.compiler.test_session_aware_compile import SCENARIOS, _answers, run

    thousand = {
        "name": "pay-up-to-a-thousand",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "numbers": [{"roles": ["amount"], "lte": 1000}],
        },
        "then": "allow",
        "reason": "small payments",
        "session": {"count": ["payments"]},
    }
    verified = [R["read-transactions"], R["ask-payee-from-a-result"], R["ask-copied-memo"],
                FIRST_TWO, R["pay-whom-the-user-named"], thousand]  # fmt: skip
    revision = copy.deepcopy(verified)
    revision[5]["if"]["lists"] = [
        {"roles": ["amount"], "allowed": ["@task:amounts"], "matchType": "identifiers"}
    ]
    revision[5]["session"] = {"count": ["payments", "small-payments"]}
    cap = {
        "name": "ask-after-five-payments",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "payments", "gte": 6}],
        },
        "then": "escalate",
        "reason": "five payments in one task already",
    }
    revision.insert(4, cap)
    scenarios = copy.deepcopy(SCENARIOS)
    scenarios["scenarios"][0]["expectedDecision"] = "escalate"  # the first payment is confirmed
    for item in scenarios["scenarios"][2:]:
        item["expectedDecision"] = "not-allow"
    after_two = copy.deepcopy(scenarios["scenarios"][0])
    after_two["description"] = "the third payment, two confirmed"
    after_two["steps"] = [{"request": after_two["request"], "result": "ok", "approved": True}] * 2
    after_two["expectedDecision"] = "allow"
    scenarios["scenarios"].append(after_two)
    answers = {
        **_answers(),
        "rules-bank": {"rules": verified},
        "scenarios-bank": scenarios,
        "harden-bank": {"rules": revision},
    }
    report, lines = run(script, tmp_path, answers)
    [done] = report.hardened
    assert not done.kept and "changes its session update" in done.refused, lines
    steps = [{"request": _pay(120), "result": "ok", "approved": True}]
    got = _decide(load_policy(tmp_path / "generated"), _pay(120), TYPED, steps)
    assert got.rule == "ask-first-two-payments"  # the verified rules stayed


# --- engine, not narrowing: a pending escalation's reserved count ends "ask while low" ------


def test_a_waiting_escalation_does_not_end_an_escalate_while_low():
    """(Outside ``narrowing``: verified rules alone.) ``SessionRun._state_for`` adds the counts
    of every call still waiting for the human to the counters a decision reads, so two calls in
    flight cannot both pass a cap. Read by an escalate rule as "while low" ("the first payment
    of a task is confirmed": ``lt 1``, as in test_harden_attacks #4) it works the other way:
    the agent sends the payment, and while the human is still asked about it sends it again;
    the second is allowed unasked (and goes ahead even if the human then refuses the first)."""
    from policy.models import ToolCall
    from policy.session_run import SessionRun
    from tests.compiler.test_harden_attacks import CTX, IBAN

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
    rules = _rules([R["read-transactions"], R["ask-payee-from-a-result"], first,
                    R["pay-whom-the-user-named"], R["pay-what-the-user-said"]])  # fmt: skip
    run = SessionRun(_policy(rules))
    run.grant_task(TYPED)
    call = ToolCall(server="bank", tool="send_money", arguments={"iban": IBAN, "amount": 120})
    waiting = run.judge(call, CTX)
    assert (waiting.decision.decision, waiting.decision.rule) == ("escalate", "ask-first-payment")
    again = run.judge(call, CTX)  # the first still waits for the human
    assert (again.decision.decision, again.decision.rule) == ("escalate", "ask-first-payment")
    run.settle(waiting)  # the human refuses the first: nothing went ahead unconfirmed
    assert run.state.counters == {}
    run.went_ahead(again)  # approving the second counts it
    assert run.state.counters == {"payments": 1}
    assert run.judge(call, CTX).decision.decision == "allow"  # a cap that still bites later
