"""A listing too long to read whole binds as a narrowed one does (session_run, task_binding's
MAX_RECORDS): records past the limit neither bind nor contest, so someone else's record bound
from what was read is confirmed before a side effect uses it."""

from __future__ import annotations

import json
from pathlib import Path

from policy.loader import load_policy
from policy.models import EvalContext, ToolCall
from policy.session_run import SessionRun
from policy.task_binding import MAX_RECORDS

POLICY = Path(__file__).parents[1] / "vectors" / "session_policy" / "narrowed" / "policy"
CONTEXT = EvalContext(home="/home/user")
TASK = "Share the assistant note with sam@home.example"
THEIRS = {"id": "n-21", "title": "Assistant note", "owner": "lee@corp.example"}


def _share(run: SessionRun) -> str:
    arguments = {"id": "n-21", "to": "sam@home.example"}
    call = ToolCall(server="notes", tool="share_note", arguments=arguments)
    judged = run.judge(call, CONTEXT)
    return f"{judged.decision.decision} {judged.decision.rule}: {judged.decision.reason}"


def _listing(count: int) -> str:
    # imported cards that meet none of the request's words push the user's own note past the
    # limit; the colleague's note is read
    filler = [{"id": f"x-{i}", "title": f"Imported card {i}", "owner": "me"} for i in range(count)]
    mine = {"id": "n-1", "title": "Assistant note (mine)", "owner": "me"}
    return json.dumps([THEIRS, *filler, mine])


def test_a_listing_past_the_limit_is_read_as_narrowed_and_its_binding_confirmed() -> None:
    run = SessionRun(load_policy(POLICY))
    run.grant_task(TASK)
    run.observe("notes", "list_notes", _listing(MAX_RECORDS + 50), arguments={})
    decided = _share(run)
    assert decided.startswith("escalate confirm-bound-record")
    assert f"narrowed by its size ({MAX_RECORDS + 52} records, the first {MAX_RECORDS} read)" in (
        decided
    )


def test_a_listing_within_the_limit_binds_with_no_question() -> None:
    run = SessionRun(load_policy(POLICY))
    run.grant_task(TASK)
    run.observe("notes", "list_notes", json.dumps([THEIRS]), arguments={})
    assert _share(run).startswith("allow allow-notes-the-user-named")
