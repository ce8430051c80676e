"""A second review of the compiler's declared-server and harden stages: what was still wrong.

Each test shows the weakness with the engine where it widened (verified rules against the
revision), then asserts what holds now: the revision refused, the cache entry checked again,
the scoped share narrowed, a cap that never bites not counted as one, the sandbox path named.
"""

from __future__ import annotations

import copy
import json

import pytest

from policy.compiler.errors import CompileError
from policy.compiler.harden import narrowing
from tests.compiler.test_harden_attacks import READ, R, _checked, _decide, _pay, _policy, _rules
from tests.compiler.test_session_aware_compile import LOOSE, TYPED, _answers, _hardened, run

INJECTED = "GB33BUKB20201555555555"


# --- 1. an allow rule gaining ``tool`` / ``sideEffects`` stops counting for other tools ------


def _counting_every_bank_call():
    """'At most three bank operations per task': the payee rule has no tool condition, so it
    applies to (and counts) every bank call; the cap escalates a payment from the third."""
    cap = {
        "name": "ask-after-three-bank-calls",
        "if": {
            "server": ["bank"],
            "tool": ["send_money"],
            "session": [{"count": "calls", "gte": 3}],
        },
        "then": "escalate",
        "reason": "three bank operations in one task already",
    }
    payee = copy.deepcopy(R["pay-whom-the-user-named"])
    del payee["if"]["tool"]
    payee["session"] = {"count": ["calls"]}
    return [
        R["read-transactions"],
        R["ask-payee-from-a-result"],
        cap,
        payee,
        R["pay-what-the-user-said"],
    ]


@pytest.mark.parametrize("gained", [{"tool": ["send_money"]}, {"sideEffects": True}])
def test_a_counting_allow_rule_gaining_tool_or_side_effects_disarms_the_cap(gained):
    """``updates_for`` runs the session update of every rule that *applies* (server, tool,
    sideEffects). A ``tool``/``sideEffects`` condition is in ``_NARROWING``: gaining one keeps the
    update's text (``_widened`` compares it) but stops it for the tools it no longer applies to,
    which is dropping the count for them (bypass 5, by another edit)."""
    original = _counting_every_bank_call()
    revised = copy.deepcopy(original)
    revised[3]["if"].update(gained)
    before, after = _checked(original, revised)
    steps = [{"request": READ, "result": "2026-11-01 landlord -950 rent"}] * 3
    assert _decide(_policy(before), _pay(120), TYPED, steps).rule == "ask-after-three-bank-calls"
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")  # widened
    assert narrowing(before, after) is not None, "narrowing() accepted the revision"


# --- 2. a count added to one rule makes its update equal another's: deduplicated -----------


def test_an_added_count_that_makes_two_updates_equal_halves_a_counter():
    """``updates_for`` counts each *distinct* update once (``dict.fromkeys``). Two rules that
    apply to send_money, one counting ``payments``, the other ``payments`` and ``transfers``:
    a payment counts 2. Adding ``transfers`` to the first (a count on a counter no rule reads:
    accepted) makes the updates equal; the payment now counts 1 and the cap bites twice as late.
    "A count only makes a cap bite sooner" does not hold."""
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
    payee = copy.deepcopy(R["pay-whom-the-user-named"])  # session {"count": ["payments"]}
    amount = copy.deepcopy(R["pay-what-the-user-said"])
    amount["session"] = {"count": ["payments", "transfers"]}
    original = [R["read-transactions"], R["ask-payee-from-a-result"], cap, payee, amount]
    revised = copy.deepcopy(original)
    revised[3]["session"] = {"count": ["payments", "transfers"]}
    before, after = _checked(original, revised)
    steps = [{"request": _pay(120), "result": "ok"}] * 2
    assert _decide(_policy(before), _pay(120), TYPED, steps).rule == "ask-after-two-payments"
    got = _decide(_policy(after), _pay(120), TYPED, steps)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")  # widened
    assert narrowing(before, after) is not None, "narrowing() accepted the revision"


# --- 3. dropping an allow rule with ``asks`` removes a verb: other rules' scopes widen -------


def test_dropping_an_allow_rule_with_asks_merges_instructions_for_scoped_rules():
    """Every ``asks`` verb starts an instruction for the whole policy (bypass 6 added one).
    Dropping an allow rule whose ``asks`` has the only "tally" verb (dropping an allow rule
    without a session update: accepted) merges "… and tally GB33… too" into the "pay"
    instruction, so the scoped ``@task:identifiers`` of the "pay" rule now holds the IBAN the
    user named only to tally, and a payment to it is allowed."""
    tally = {
        "name": "tally-when-asked",
        "if": {"server": ["bank"], "tool": ["list_transactions"], "task": {"asks": ["tally"]}},
        "then": "allow",
        "reason": "the user asked to tally the account",
    }
    payee = copy.deepcopy(R["pay-whom-the-user-named"])
    payee["if"]["task"] = {"asks": ["pay"]}
    del payee["session"]
    amount = copy.deepcopy(R["pay-what-the-user-said"])
    amount["if"]["task"] = {"asks": ["pay"]}
    original = [tally, R["read-transactions"], R["ask-payee-from-a-result"], payee, amount]
    revised = copy.deepcopy(original[1:])
    before, after = _checked(original, revised)
    task = TYPED + " and tally GB33BUKB20201555555555 too"
    assert _decide(_policy(before), _pay(120, iban=INJECTED), task).decision == "deny"
    got = _decide(_policy(after), _pay(120, iban=INJECTED), task)
    assert (got.decision, got.rule) == ("allow", "pay-whom-the-user-named")  # widened
    assert narrowing(before, after) is not None, "narrowing() accepted the revision"


# --- 4. a cached annotation is not checked again: an old entry replays what is now refused ---


def test_cached_annotation_from_before_the_label_check_is_checked_again(script, tmp_path):
    """c094739's annotate stage validated the answer as ``ToolAnnotation`` (``result``,
    ``records``, ``askedBy`` included) with no ``check_hand_written``, and cached it under
    ``digest_of("annotate", server, specs, roles)``: for a shipped server the same key as now
    (``PROMPT_VERSION`` is still "1"). A cache hit is only ``model_validate``d, so fetch's
    results relabelled "trusted" by the old annotator reach the installed policy."""
    from policy.compiler.annotate import roles_for
    from policy.compiler.cache import digest_of
    from tests.compiler.support import recorded, tool_specs
    from tests.compiler.test_session_aware_compile import TOOLS

    tools = {**TOOLS, "fetch": tool_specs()["fetch"]}
    answers = {**_answers(), "annotate-fetch": recorded("annotate-fetch.json")}
    run(script, tmp_path, answers, tools=tools)
    specs = sorted((t.model_dump() for t in tools["fetch"]), key=lambda t: t["name"])
    key = digest_of("annotate", "fetch", specs, sorted(roles_for("fetch")))
    entry = tmp_path / "cache" / f"annotate-{key}.json"
    old = json.loads(entry.read_text())
    old["tools"][0]["result"] = "trusted"  # what the old stage accepted and cached
    entry.write_text(json.dumps(old))
    try:
        run(script, tmp_path, answers, tools=tools)
    except CompileError:
        return
    installed = json.loads((tmp_path / "generated" / "tool-annotations.json").read_text())
    label = installed["servers"]["fetch"]["tools"][0].get("result")
    assert label is None, f"installed fetch result={label!r} from a cache entry, unchecked"


# --- 5. a corrupt harden cache entry escapes as a pydantic error ----------------------------


def test_a_corrupt_harden_cache_entry_is_a_miss(script, tmp_path):
    """docs: "Entries are validated again when read; a corrupt entry is a miss". The harden
    stage's ``_revision`` does ``_Answer.model_validate`` on a cached entry unguarded: a bad
    entry is a ValidationError out of ``compile_policy`` (not a CompileError, not a miss)."""
    answers = {**_answers(), "rules-bank": LOOSE, "harden-bank": _hardened()}
    run(script, tmp_path, answers)
    [entry] = (tmp_path / "cache").glob("harden-*.json")
    entry.write_text(json.dumps({"rules": [{"name": "x"}], "refused": ""}))
    try:
        report, _ = run(script, tmp_path, answers)
    except CompileError:
        return
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped compile_policy: {str(exc)[:120]}")
    assert report.hardened[0].kept  # asked again: the scripted answer is kept


# --- 6. the scoped-list fix left out askedBy shares: a tool's share is not a subset ---------


def test_an_asked_by_share_holds_only_values_the_whole_request_grants():
    """436b440 made a rule's asks-scoped @task: list hold only values the whole request grants
    ("also #4711" is no amount). ``grant_task`` still fills each tool ``askedBy`` share from
    ``scoped_grants`` alone, and ``for_tool`` reads the tool's @task: lists as that share: a
    hand-written ``askedBy: ["pay"]`` on send_money makes #4711 an amount again."""
    from policy.compiler.annotate import AnnotatedServer
    from policy.compiler.artifacts import annotations_file
    from policy.loader import Policy
    from policy.models import ToolAnnotationsFile
    from tests.compiler.test_session_aware_compile import ANNOTATE

    def built(annotate) -> Policy:
        server = AnnotatedServer.model_validate(annotate)
        content = ToolAnnotationsFile.model_validate(annotations_file({"bank": server}, ""))
        rules = [R["read-transactions"], R["pay-whom-the-user-named"], R["pay-what-the-user-said"]]
        return Policy.build(_rules(rules), content)

    asked = copy.deepcopy(ANNOTATE)
    asked["tools"][1]["askedBy"] = ["pay"]
    task = "Pay DE89 3704 0044 0532 0130 00 the 120 for the bike, also #4711"
    assert _decide(built(ANNOTATE), _pay(4711), task).decision == "deny"
    assert _decide(built(asked), _pay(120), task).decision == "allow"
    got = _decide(built(asked), _pay(4711), task)
    assert got.decision == "deny", f"askedBy share: 4711 -> {got.decision} ({got.rule})"


# --- 7. a cap that can never bite is counted as a cap: the lint count is met by a fake -------


@pytest.mark.parametrize("bound", [float("nan"), 1e308])
def test_a_cap_that_never_bites_does_not_answer_uncapped(script, tmp_path, bound):
    """``_judged`` keeps a revision when the lint counts fewer findings; the lint's ``_capped``
    takes any ``gte`` as a cap. A revision that binds the amount (a real fix) and adds a cap
    ``gte: NaN`` (JSON the LLM may write: ``json.loads`` and pydantic take it) or ``1e308`` is
    reported "2 lint finding(s) -> 0", while the cap never holds: the tool is as uncapped as
    before, and a later compile asks nothing (cached as kept)."""
    revision = _hardened()
    revision["rules"][3]["if"]["session"][0]["gte"] = bound
    report, lines = run(
        script, tmp_path, {**_answers(), "rules-bank": LOOSE, "harden-bank": revision}
    )
    [done] = report.hardened
    from policy.loader import load_policy

    steps = [{"request": _pay(120), "result": "ok"}] * 50
    got = _decide(load_policy(tmp_path / "generated"), _pay(120), TYPED, steps)
    assert not (done.kept and done.after == 0 and got.decision == "allow"), (
        f"{lines[-1]!r}; the 51st payment -> {got.decision} ({got.rule})"
    )


# --- 8. a declared server with no roles of its own: its sandbox paths are not named ----------


def test_a_declared_server_reading_an_iban_as_a_write_path_is_named(script, tmp_path):
    """docs: "The compile names ... a declared server's arguments read as sandbox paths".
    ``_declared_summary`` prints that line only ``if sandboxed and annotations.roles``: an
    annotator that declares no roles and gives the IBAN the built-in ``write-path`` gets no
    line, and in a session the IBAN (a relative path) lands in the sandbox and is allowed
    before any rule (``structural-sandbox-allow``)."""
    from policy.engine import evaluate
    from policy.loader import load_policy
    from policy.models import EvalContext, ToolCall
    from policy.paths import lexical
    from tests.compiler.test_session_aware_compile import ANNOTATE

    answer = copy.deepcopy(ANNOTATE)
    answer["roles"] = {}
    answer["tools"][1]["args"] = {"iban": ["write-path"], "amount": ["none"], "memo": ["none"]}
    rules = {"rules": [{"name": "read-transactions", "if": {"server": ["bank"],
                        "sideEffects": False}, "then": "allow", "reason": "r"}]}  # fmt: skip
    _, lines = run(script, tmp_path, _answers(**{"annotate-bank": answer, "rules-bank": rules,
                                                 "scenarios-bank": {"scenarios": []}}))  # fmt: skip
    ctx = EvalContext(
        home="/home/user", sandbox="/home/user/.ironcurtain/sessions/s1/sandbox",
        resolve_path=lexical,
    )  # fmt: skip
    call = ToolCall(server="bank", tool="send_money",
                    arguments={"iban": INJECTED, "amount": 5000})  # fmt: skip
    got = evaluate(call, load_policy(tmp_path / "generated"), ctx)
    assert any("sandbox" in line for line in lines), (
        f"no progress line names it; send_money to {INJECTED} -> {got.decision} ({got.rule})"
    )
