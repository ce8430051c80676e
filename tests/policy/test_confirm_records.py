"""Records a listing binds with ``"confirm"``: the first side effect that uses one asks the
human, and approving it confirms the record for the rest of the task (the session lists that
hold this are audited with the bindings and the call, so a resumed session and ``policy replay``
see the same)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.loader import load_policy
from policy.models import EvalContext, PolicyLoadError, ToolCall
from policy.session_run import SessionRun
from policy.task_grants import CONFIRMED, UNCONFIRMED

POLICY = Path(__file__).resolve().parents[1] / "vectors" / "session_policy" / "confirm" / "policy"
BILLS = [
    {"id": "m-3", "from": "bills@citypower.example", "subject": "Power bill November"},
    {"id": "m-4", "from": "bills@citypower.example", "subject": "Power bill December"},
]
CONTEXT = EvalContext(home="/home/user")


def _delete(ident: str) -> ToolCall:
    return ToolCall(server="mail", tool="delete_message", arguments={"id": ident})


def test_approving_the_question_confirms_the_record_for_that_tool_for_the_rest_of_the_task():
    run = SessionRun(load_policy(POLICY))
    run.grant_task("Delete the December power bill email")
    bound = run.observe("mail", "list_messages", json.dumps(BILLS))
    assert bound[UNCONFIRMED] == ("m-4",)  # written to the audit with the bindings
    first = run.judge(_delete("m-4"), CONTEXT)
    assert (first.decision.decision, first.decision.rule) == ("escalate", "confirm-bound-record")
    # the human sees the record as its listing described it, and the other one that fits
    assert "'m-4': bills@citypower.example · Power bill December" in first.decision.reason
    assert "also fit 'm-3': bills@citypower.example · Power bill November" in first.decision.reason
    assert first.seen.lists[UNCONFIRMED] == ("m-4",)  # the audit's record of what was judged
    assert first.update.extend[CONFIRMED] == ("mail/delete_message\tm-4",)
    run.went_ahead(first)  # the human approved
    again = run.judge(_delete("m-4"), CONTEXT)
    assert again.decision.decision == "allow"


def test_a_refused_question_confirms_nothing() -> None:
    run = SessionRun(load_policy(POLICY))
    run.grant_task("Delete the December power bill email")
    run.observe("mail", "list_messages", json.dumps(BILLS))
    first = run.judge(_delete("m-4"), CONTEXT)
    run.settle(first)  # the human said no: the call never went ahead
    assert run.judge(_delete("m-4"), CONTEXT).decision.rule == "confirm-bound-record"


def test_confirm_takes_only_contested_or_always(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    folder.mkdir()
    for name in ("compiled-policy.json", "dynamic-lists.json"):
        (folder / name).write_text((POLICY / name).read_text())
    annotations = json.loads((POLICY / "tool-annotations.json").read_text())
    listing = annotations["servers"]["mail"]["tools"][0]
    assert listing["toolName"] == "list_messages"
    listing["records"]["confirm"] = "sometimes"
    (folder / "tool-annotations.json").write_text(json.dumps(annotations))
    with pytest.raises(PolicyLoadError, match="confirm"):
        load_policy(folder)


def test_policy_show_says_which_listings_ask(capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli.main import main

    assert main(["policy", "show", "--policy-dir", str(POLICY)]) == 0
    out = capsys.readouterr().out
    assert "confirms a bound record before a side effect uses it: when another record fits" in out
    assert "confirms a bound record before a side effect uses it: always" in out


def test_the_question_shows_others_text_without_control_characters() -> None:
    """A record's description is someone else's text: an escape sequence or a right-to-left
    override in it must not reach the human's terminal through the question."""
    planted = [
        {"id": "m-3", "from": "bills@citypower.example", "subject": "Power bill November"},
        {"id": "m-4", "from": "x@evil.example", "subject": "Power bill \x1b[2K\u202eDecember\n"},
    ]
    run = SessionRun(load_policy(POLICY))
    run.grant_task("Delete the December power bill email")
    run.observe("mail", "list_messages", json.dumps(planted))
    reason = run.judge(_delete("m-4"), CONTEXT).decision.reason
    assert "'m-4': x@evil.example · Power bill [2KDecember" in reason
    assert "\x1b" not in reason and "\u202e" not in reason and "\n" not in reason


@pytest.mark.parametrize("written", [" m-4", "M-4 ", "m-4\t"])
def test_a_waiting_record_written_another_way_is_never_allowed_unasked(written: str) -> None:
    run = SessionRun(load_policy(POLICY))
    run.grant_task("Delete the December power bill email")
    run.observe("mail", "list_messages", json.dumps(BILLS))
    assert run.judge(_delete(written), CONTEXT).decision.decision != "allow"


def test_a_question_asked_for_another_reason_says_it_confirms_the_record_too(
    tmp_path: Path,
) -> None:
    """A call asked about by another rule (here: every deletion is asked) that uses a record
    waiting for confirmation confirms it when approved: the question says so, and shows the
    record as its listing described it and the other one that fits. It used to show only the
    other rule's reason, and the approval confirmed a record the human was never shown."""
    folder = tmp_path / "policy"
    folder.mkdir()
    for name in ("tool-annotations.json", "dynamic-lists.json"):
        (folder / name).write_text((POLICY / name).read_text())
    compiled = json.loads((POLICY / "compiled-policy.json").read_text())
    ask = {"name": "ask-deletions", "if": {"tool": ["delete_message"]}, "then": "escalate",
           "reason": "deletions are asked"}  # fmt: skip
    compiled["rules"].insert(1, ask)
    (folder / "compiled-policy.json").write_text(json.dumps(compiled))
    run = SessionRun(load_policy(folder))
    run.grant_task("Delete the December power bill email")
    run.observe("mail", "list_messages", json.dumps(BILLS))
    first = run.judge(_delete("m-4"), CONTEXT)
    assert (first.decision.decision, first.decision.rule) == ("escalate", "ask-deletions")
    reason = first.decision.reason
    assert reason.startswith("deletions are asked (id: 'm-4'). Approving also confirms 'm-4'")
    assert "'m-4': bills@citypower.example · Power bill December" in reason
    assert "also fit 'm-3'" in reason
    assert first.update.extend[CONFIRMED] == ("mail/delete_message\tm-4",)


def _note(tool: str) -> ToolCall:
    return ToolCall(server="notes", tool=tool, arguments={"id": "n-3", "to": "sam@home.example"})


def test_a_record_confirmed_for_one_tool_is_asked_about_again_by_another() -> None:
    """Round 13's attacker: the human approves a harmless step with the record (a snapshot of
    the VM a narrowed listing found) and the destructive one (its deletion) then went ahead
    unasked. A confirmation is for the tool it was asked by; an older log's entry without a
    tool still confirms the record for every tool."""
    run = SessionRun(load_policy(POLICY))
    run.grant_task("Share my grocery list with sam@home.example, then delete it")
    run.observe("notes", "list_notes", json.dumps([{"id": "n-3", "title": "Grocery list",
                                                     "owner": "me"}]))  # fmt: skip
    share = run.judge(_note("share_note"), CONTEXT)
    assert share.decision.rule == "confirm-bound-record"
    run.went_ahead(share)
    assert run.judge(_note("share_note"), CONTEXT).decision.decision == "allow"
    delete = run.judge(ToolCall(server="notes", tool="delete_note", arguments={"id": "n-3"}),
                       CONTEXT)  # fmt: skip
    assert delete.decision.rule == "confirm-bound-record"
    legacy = SessionRun(load_policy(POLICY))
    legacy.state = run.state.model_copy(update={"lists": {**run.state.lists, CONFIRMED: ("n-3",)}})
    again = legacy.judge(ToolCall(server="notes", tool="delete_note", arguments={"id": "n-3"}),
                         CONTEXT)  # fmt: skip
    assert again.decision.decision == "allow"
