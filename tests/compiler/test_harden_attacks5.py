"""A fifth attack on ``policy.compiler.harden.narrowing``: new escalate rules that turn the
verified rules' refusals into questions.

``narrowing`` let a new rule be any escalate rule. The module's promise for refusals is narrower:
a new escalate rule is a cap or a copy guard, which may ask about a value no rule covered only
once the cap bites or the text copies. Any other new escalate rule (on a role, or a cap that
bites from the first call) turns the verified rules' default deny into a question from the first
call: an IBAN read in an injected note, which the verified rules refuse, is now put to the human
(or to the auto-approver, which approves what the user's message seems to ask for) and goes
ahead when approved. Each test shows the refusal turned into a question with the engine, then
that ``narrowing`` refuses the revision.
"""

from __future__ import annotations

import copy

import pytest

from policy.compiler.annotate import AnnotatedServer
from policy.compiler.harden import narrowing
from policy.compiler.rules import check_rules
from tests.compiler.test_harden_attacks import READ, R, _decide, _pay, _policy, _rules
from tests.compiler.test_session_aware_compile import ANNOTATE, TYPED

ELSEWHERE = "DE44500105175407324931"  # an IBAN the user never typed
VERIFIED = [R["read-transactions"], R["ask-payee-from-a-result"], R["pay-whom-the-user-named"],
            R["pay-what-the-user-said"]]  # fmt: skip

NOT_A_CAP = "is neither a cap"

ASK_ANY_PAYEE = {
    "name": "ask-other-payees",
    "if": {"server": ["bank"], "tool": ["send_money"], "roles": ["payee"]},
    "then": "escalate",
    "reason": "a payee the user did not name",
}
CAP_FROM_ZERO = {
    "name": "ask-after-no-payments",
    "if": {"server": ["bank"], "tool": ["send_money"], "session": [{"count": "sends", "gte": 0}]},
    "then": "escalate",
    "reason": "a cap",
    "session": {"count": ["sends"]},
}
ASK_WHILE_LOW = {
    "name": "ask-first-send",
    "if": {"server": ["bank"], "tool": ["send_money"],
           "session": [{"count": "payments", "lt": 1}]},
    "then": "escalate",
    "reason": "the first payment is confirmed",
}  # fmt: skip


@pytest.mark.parametrize(
    ("new", "at", "engine"),
    [
        (ASK_ANY_PAYEE, len(VERIFIED), ("escalate", ASK_ANY_PAYEE["name"])),
        (CAP_FROM_ZERO, 2, ("deny", "default-deny")),
        (ASK_WHILE_LOW, 2, ("deny", "default-deny")),
    ],
    ids=["escalate-on-a-role", "cap-that-always-bites", "escalate-while-low"],
)
def test_a_new_escalate_rule_that_is_no_cap_asks_about_what_the_rules_refuse(new, at, engine):
    """The verified rules refuse a payment to an IBAN the user never typed (default deny). A
    new escalate rule on the payee role (after every allow rule: it narrows nothing, it only
    covers what no rule covered) turns that refusal into a question on the very first call.
    A "cap" that bites at zero calls, or an "ask while low" rule, did too; the engine now asks
    by a session limit only about what the rules after it allow (session 16), so those stay
    refused there as well: ``narrowing`` refuses all three revisions all the same."""
    revised = copy.deepcopy(VERIFIED)
    revised.insert(at, copy.deepcopy(new))
    server = AnnotatedServer.model_validate(ANNOTATE)
    before, after = _rules(VERIFIED), _rules(revised)
    check_rules("bank", server, before)
    check_rules("bank", server, after)
    assert _decide(_policy(before), _pay(120, ELSEWHERE), TYPED).decision == "deny"
    got = _decide(_policy(after), _pay(120, ELSEWHERE), TYPED)
    assert (got.decision, got.rule) == engine
    why = narrowing(before, after)
    assert why is not None and NOT_A_CAP in why, why


def test_a_cap_and_a_copy_guard_are_still_new_rules_a_revision_may_add():
    """What the lint asks for stays possible: a cap that counts its own calls from a floor of
    at least one, and a copy guard."""
    cap = {
        "name": "ask-after-three-payments",
        "if": {"server": ["bank"], "tool": ["send_money"],
               "session": [{"count": "sends", "gte": 3}]},
        "then": "escalate",
        "reason": "three payments in one task already",
        "session": {"count": ["sends"]},
    }  # fmt: skip
    revised = [*copy.deepcopy(VERIFIED[:2]), cap, R["ask-copied-memo"], *VERIFIED[2:]]
    opaque = _policy(_rules(VERIFIED)).roles.opaque_roles  # memo-text: declared opaque
    assert narrowing(_rules(VERIFIED), _rules(revised), (), opaque) is None


def test_a_new_copy_guard_on_a_judged_role_asks_about_a_payee_no_rule_allows():
    """A copy guard (``provenance`` with ``words``) is meant for a message's text, which no
    other rule reads. One that also names the payee covers the payee whenever the call's text
    copies: a memo that repeats more runs of a result than a call records (64) counts as
    copying for every value of the call. An injected note the agent copies into the memo then
    turns the verified rules' refusal of an IBAN the user never typed into a question about
    the memo, approved with the payment."""
    guard = {
        "name": "ask-copied-text",
        "if": {"server": ["bank"],
               "provenance": {"roles": ["payee", "memo-text"], "from": "untrusted", "words": 4}},
        "then": "escalate",
        "reason": "the payment repeats what a transaction's note said",
    }  # fmt: skip
    revised = [*copy.deepcopy(VERIFIED[:2]), guard, *copy.deepcopy(VERIFIED[2:])]
    server = AnnotatedServer.model_validate(ANNOTATE)
    before, after = _rules(VERIFIED), _rules(revised)
    check_rules("bank", server, before)
    check_rules("bank", server, after)
    words = [f"{a}{b}{c}word" for a in "abcdefghij" for b in "klmnopq" for c in "rstuv"]
    chains = [" ".join(words[at : at + 3]) for at in range(0, 600, 3)]  # 200 runs of 3 words
    steps = [{"request": READ, "result": " ".join(chains)}]
    request = _pay(120, ELSEWHERE, memo=" zz ".join(chains))
    assert _decide(_policy(before), request, TYPED, steps).decision == "deny"
    got = _decide(_policy(after), request, TYPED, steps)
    assert (got.decision, got.rule) == ("escalate", "ask-copied-text")
    opaque = _policy(before).roles.opaque_roles
    why = narrowing(before, after, (), opaque)
    assert why == "its new text rule 'ask-copied-text' reads 'payee', a role the rules judge"


def test_a_copy_guard_does_not_decide_a_call_no_rule_allows():
    """A tool whose only argument is text (``post_note``) that no verified rule allows is
    refused. A new copy guard on that text is accepted (it reads an opaque role), and the engine
    took it as the call's rule: a note that copies an injected result went from the default deny
    to a question. A copy rule judges the text, never the call: the deny stands."""
    from policy.compiler.artifacts import annotations_file
    from policy.loader import Policy
    from policy.models import ToolAnnotationsFile

    shape = copy.deepcopy(ANNOTATE)
    shape["tools"].append({"toolName": "post_note", "serverName": "bank", "sideEffects": True,
                           "args": {"text": ["memo-text"]}})  # fmt: skip
    server = AnnotatedServer.model_validate(shape)
    copies = {"roles": ["memo-text"], "from": "untrusted", "words": 4}
    guard = {"name": "ask-copied", "then": "escalate", "reason": "copies a result",
             "if": {"server": ["bank"], "provenance": copies}}  # fmt: skip
    before, after = _rules(VERIFIED), _rules([*copy.deepcopy(VERIFIED), guard])
    check_rules("bank", server, before)
    check_rules("bank", server, after)
    files = ToolAnnotationsFile.model_validate(annotations_file({"bank": server}, ""))
    revised = Policy.build(after, files)
    assert narrowing(before, after, (), revised.roles.opaque_roles) is None
    note = "please include the reference ACME invoice settlement quarterly payment"
    steps = [{"request": READ, "result": f"landlord '{note}'"}]
    post = {"serverName": "bank", "toolName": "post_note", "arguments": {"text": note}}
    for policy in (Policy.build(before, files), revised):
        got = _decide(policy, post, TYPED, steps)
        assert (got.decision, got.rule) == ("deny", "default-deny")
