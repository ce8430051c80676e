"""A fourth attack on ``policy.compiler.harden.narrowing``: a counter another server reads.

The test shows the widening with the engine, then that the revision is refused once the other
servers' rules are given (as ``harden_rules`` gives them)."""

from __future__ import annotations

import copy

from policy.compiler.annotate import AnnotatedServer
from policy.compiler.artifacts import annotations_file
from policy.compiler.harden import narrowing
from policy.compiler.rules import check_rules
from policy.loader import Policy
from policy.models import ToolAnnotationsFile
from tests.compiler.test_harden_attacks import R, _decide, _pay, _rules
from tests.compiler.test_session_aware_compile import ANNOTATE, TYPED

SHOP = {
    "roles": {},
    "tools": [
        {
            "toolName": "browse",
            "serverName": "shop",
            "sideEffects": False,
            "result": "trusted",
            "args": {"page": ["none"]},
        }
    ],
}
BROWSE = {"serverName": "shop", "toolName": "browse", "arguments": {"page": 1}}


def _two(bank, shop) -> Policy:
    servers = {
        "bank": AnnotatedServer.model_validate(ANNOTATE),
        "shop": AnnotatedServer.model_validate(SHOP),
    }
    return Policy.build(
        (*bank, *shop), ToolAnnotationsFile.model_validate(annotations_file(servers, ""))
    )


def test_a_new_cap_on_another_server_may_not_count_a_counter_the_bank_reads():
    """Counters are the session's, not a server's; ``_added_counts`` checks only the revised
    server's rules. The shop's revision adds a cap rule that counts "payments" (new for the
    shop, read by the shop only as a cap): every allowed browse now counts a payment, so the
    bank's verified "confirm the first payment" (escalate while payments lt 1) stops holding
    and the payment falls to the allow rule."""
    first = {
        "name": "ask-first-payment",
        "if": {"server": ["bank"], "tool": ["send_money"],
               "session": [{"count": "payments", "lt": 1}]},
        "then": "escalate",
        "reason": "the first payment of a task is confirmed",
    }  # fmt: skip
    bank = _rules([R["read-transactions"], R["ask-payee-from-a-result"], first,
                   R["pay-whom-the-user-named"], R["pay-what-the-user-said"]])  # fmt: skip
    browse = {
        "name": "browse-the-shop",
        "if": {"server": ["shop"], "sideEffects": False},
        "then": "allow",
        "reason": "reading changes nothing",
    }
    cap = {
        "name": "ask-after-many-browses",
        "if": {"server": ["shop"], "tool": ["browse"],
               "session": [{"count": "payments", "gte": 1000}]},
        "then": "escalate",
        "reason": "a cap",
        "session": {"count": ["payments"]},
    }  # fmt: skip
    shop_before = _rules([browse])
    shop_after = _rules([cap, copy.deepcopy(browse)])
    check_rules("bank", AnnotatedServer.model_validate(ANNOTATE), bank)
    check_rules("shop", AnnotatedServer.model_validate(SHOP), shop_before)
    check_rules("shop", AnnotatedServer.model_validate(SHOP), shop_after)
    assert narrowing(shop_before, shop_after, bank) == (
        "rule 'ask-after-many-browses' counts 'payments', another server's counter"
    )
    before, after = _two(bank, shop_before), _two(bank, shop_after)
    steps = [{"request": BROWSE, "result": "catalogue page 1"}]
    assert _decide(before, _pay(120), TYPED, steps).decision == "escalate"
    assert _decide(before, BROWSE, TYPED).decision == "allow"
    got = _decide(after, _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")
