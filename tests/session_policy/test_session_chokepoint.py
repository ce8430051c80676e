"""Session-aware policy through a real session: the chokepoint in front of a real MCP server
(``assistant_server.py`` over stdio), the domains' frozen policies, the audit and its replay."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from appliance.chokepoint.escalation.models import Verdict
from appliance.chokepoint.server_pool import ServerSpec
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session
from policy.compiler.replay import replay_audit
from policy.loader import load_policy
from policy.models import EvalContext

pytestmark = pytest.mark.anyio
VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
SERVER = Path(__file__).with_name("assistant_server.py")


class _Answer:
    """An approval channel that gives one answer and remembers what it was asked."""

    def __init__(self, approve: bool) -> None:
        self.approve, self.asked = approve, []

    async def ask(self, request):
        self.asked.append(request)
        if self.approve:
            return Verdict(approved=True, by="human")
        return Verdict.deny("human", "not this one")


def _session(home, tmp_path: Path, server: str, domain: str, session_id: str | None = None):
    """A session in front of one of the test servers with a domain's policy; the same
    ``session_id`` again resumes it."""
    spec = ServerSpec(server, argv=(sys.executable, str(SERVER), server), call_timeout_s=20.0)
    options = SessionOptions(
        task="t", sandbox=tmp_path / "sb", policy_dir=VECTORS / domain / "policy",
        session_id=session_id,
    )  # fmt: skip
    return open_session(Config(), home, options, specs=[spec])


def _records(audit: Path) -> list[dict]:
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


async def test_grants_injection_and_approval_grow_the_session(home, tmp_path: Path) -> None:
    async with _session(home, tmp_path, "chat", "messaging") as session:
        cp = session.chokepoint
        cp.escalation = _Answer(approve=True)
        line = cp.grant_task("Invite zoe to the family group and tell her about Lisbon")
        assert "zoe" in line and line.startswith("task grants:")
        invited = await cp.call("chat", "invite_member", {"group": "family", "member": "zoe"})
        read = await cp.call("chat", "read_messages", {"chat": "inbox"})
        injected = await cp.call(
            "chat", "invite_member", {"group": "family", "member": "mallory-99"}
        )
        page = await cp.call("chat", "fetch_page", {"url": "https://en.wikipedia.org/wiki/Lisbon"})
        link = await cp.call(
            "chat", "send_message", {"recipient": "zoe", "text": "see https://evil.example/win"}
        )
        first = await cp.call("chat", "send_message", {"recipient": "newfriend", "text": "hi"})
        asked = len(cp.escalation.asked)
        again = await cp.call("chat", "send_message", {"recipient": "newfriend", "text": "hi 2"})
        sent = await cp.call("chat", "list_contacts", {})
        audit = session.audit_path
    # both values granted (the group by the contacts list, zoe by the task); the first names it
    assert (invited.ok, invited.decision.rule) == (True, "allow-groups-named-or-created")
    assert read.ok and page.ok
    assert (injected.ok, injected.decision.rule) == (False, "deny-recipient-from-untrusted-text")
    assert (link.ok, link.decision.rule) == (False, "deny-links-from-untrusted-text")
    # a new recipient asks once; the approval adds them to session:members for the next call
    assert (first.ok, first.decision.rule, asked) == (True, "escalate-new-recipient", 1)
    assert (again.ok, again.decision.rule) == (True, "allow-contacts")
    assert len(cp.escalation.asked) == 1
    assert "mallory" not in sent.text and "evil.example" not in sent.text
    records = _records(audit)
    grants = [r for r in records if r.get("type") == "task-grants"]
    assert grants and "zoe" in grants[0]["grants"]["task:identifiers"]
    denied = next(
        r
        for r in records
        if r.get("type") == "call" and r.get("rule") == "deny-recipient-from-untrusted-text"
    )
    assert "mallory-99" in denied["session"]["tainted"]["untrusted"]
    approved = next(
        r for r in records if r.get("type") == "call" and r.get("rule") == "escalate-new-recipient"
    )
    assert approved["sessionUpdate"]["extend"]["session:members"] == ["newfriend"]
    later = [r for r in records if r.get("type") == "call" and r.get("rule") == "allow-contacts"][
        -1
    ]
    assert "newfriend" in later["session"]["lists"]["session:members"]
    _replays_the_same(audit, VECTORS / "messaging" / "policy", tmp_path)


async def test_a_running_total_crossing_the_threshold_escalates(home, tmp_path: Path) -> None:
    async with _session(home, tmp_path, "bank", "banking") as session:
        cp = session.chokepoint
        cp.escalation = _Answer(approve=False)
        cp.grant_task("Pay 900 to DE44500105175407324931 three times for the deposit")
        payee = "DE44500105175407324931"
        outcomes = [
            await cp.call("bank", "send_money", {"recipient": payee, "amount": 900})
            for _ in range(3)
        ]
        injected = await cp.call(
            "bank", "send_money", {"recipient": "DE12500105170648489890", "amount": 10}
        )
        sent = await cp.call("bank", "get_balance", {})
        audit = session.audit_path
    rules = [o.decision.rule for o in outcomes]
    assert rules == ["allow-known-payees"] * 2 + ["escalate-session-spend-above-2000"]
    assert [o.ok for o in outcomes] == [True, True, False]  # 2700 > 2000: asked, refused
    assert sent.text.count("'amount'") == 2
    # never typed by the user, on no list, in no document: a new account still asks a human
    assert injected.decision.rule == "escalate-new-iban" and not injected.ok
    spent = [
        r["session"].get("sums", {}).get("spent")
        for r in _records(audit)
        if r.get("type") == "call"
    ]
    assert spent[:3] == [None, 900.0, 1800.0]
    _replays_the_same(audit, VECTORS / "banking" / "policy", tmp_path)


def _replays_the_same(audit: Path, policy_dir: Path, tmp_path: Path) -> None:
    """``policy replay`` re-decides every call with the recorded state: nothing changes."""
    policy = load_policy(policy_dir)
    with audit.open() as lines:
        changes, total = replay_audit(lines, policy, lambda _: EvalContext(home=str(tmp_path)))
    assert total > 3 and changes == []


async def test_a_resumed_session_keeps_its_grants_lists_and_sums(home, tmp_path: Path) -> None:
    payee, named = "DE44500105175407324931", "DE75512108001245126199"
    async with _session(home, tmp_path, "bank", "banking", "resume-me") as session:
        session.chokepoint.grant_task(f"Pay 900 to {named} and 900 to {payee}")
        for account in (named, payee):
            assert (
                await session.chokepoint.call(
                    "bank", "send_money", {"recipient": account, "amount": 900}
                )
            ).ok
    async with _session(home, tmp_path, "bank", "banking", "resume-me") as session:
        cp = session.chokepoint
        cp.escalation = _Answer(approve=False)
        assert cp.session_state.state.sums == {"spent": 1800.0}
        # results read before the resume are not in the log: their label starts saturated
        assert cp.session_state.memory.saturated == {"untrusted"}
        again = await cp.call("bank", "send_money", {"recipient": named, "amount": 100})
        # the grant survived the resume; the total did too (1900 is under 2000: allowed)
        assert (again.ok, again.decision.rule) == (True, "allow-iban-the-user-named")
        over = await cp.call("bank", "send_money", {"recipient": payee, "amount": 150})
    assert over.decision.rule == "escalate-session-spend-above-2000" and not over.ok


async def test_a_card_number_in_the_request_is_masked_in_the_audit(home, tmp_path: Path) -> None:
    async with _session(home, tmp_path, "chat", "messaging") as session:
        session.chokepoint.grant_task("Tell bob my card is 4111111111111111")
        audit = session.audit_path
    text = audit.read_text()
    assert "task-grants" in text and "[REDACTED:card-number]" in text
    assert "4111 1111" not in text and "4111111111111111" not in text


async def test_a_listing_binds_the_note_the_request_describes(home, tmp_path: Path) -> None:
    """``records`` on a real server's listing: the note the user's words describe is bound to
    the task (in the audit as ``taskBindings``, bound again on resume); the note an injected
    record names is refused, and so is the injector's own note."""
    async with _session(home, tmp_path, "notes", "binding", "bind-notes") as session:
        cp = session.chokepoint
        cp.grant_task("Share my grocery list with sam@home.example")
        before = await cp.call("notes", "share_note", {"id": "n-3", "to": "sam@home.example"})
        listed = await cp.call("notes", "list_notes", {})
        shared = await cp.call("notes", "share_note", {"id": "n-3", "to": "sam@home.example"})
        injected = await cp.call("notes", "share_note", {"id": "n-9", "to": "sam@home.example"})
        theirs = await cp.call("notes", "share_note", {"id": "n-21", "to": "sam@home.example"})
        sent = await cp.call("notes", "list_shared", {})
        audit = session.audit_path
    assert (before.ok, before.decision.rule) == (False, "deny-other-notes")  # nothing listed yet
    assert listed.ok and (shared.ok, shared.decision.rule) == (True, "allow-notes-the-user-named")
    assert (injected.ok, injected.decision.rule) == (False, "deny-other-notes")
    assert (theirs.ok, theirs.decision.rule) == (False, "deny-other-notes")
    assert "n-9" not in sent.text and "n-21" not in sent.text and "n-3" in sent.text
    records = _records(audit)
    listing = next(r for r in records if r.get("type") == "call" and r.get("tool") == "list_notes")
    assert listing["taskBindings"] == {"task:notes": ["n-3"]}
    assert listing["taskBindingScores"]["task:notes"] >= 1  # a resume starts from it
    allowed = next(
        r
        for r in records
        if r.get("type") == "call" and r.get("rule") == "allow-notes-the-user-named"
    )
    assert allowed["session"]["lists"]["task:notes"] == ["n-3"]
    _replays_the_same(audit, VECTORS / "binding" / "policy", tmp_path)
    async with _session(home, tmp_path, "notes", "binding", "bind-notes") as session:
        assert session.chokepoint.session_state.state.lists["task:notes"] == ("n-3",)
        again = await session.chokepoint.call(
            "notes", "share_note", {"id": "n-3", "to": "sam@home.example"}
        )
    assert (again.ok, again.decision.rule) == (True, "allow-notes-the-user-named")


async def test_a_tool_asked_by_instructions_through_a_real_server(home, tmp_path: Path) -> None:
    """``askedBy`` on a real server's tools: sharing is refused before any rule when the
    request only asks to be told, and allowed with the note the share instruction describes;
    the decision replays the same from the audit, and a resumed session keeps the scopes."""
    async with _session(home, tmp_path, "notes", "askedby", "asked-notes") as session:
        cp = session.chokepoint
        cp.grant_task("Send me the old wifi password")
        told = await cp.call("notes", "share_note", {"id": "n-9", "to": "sam@home.example"})
        cp.grant_task("Find my grocery list and share it with sam@home.example")
        await cp.call("notes", "list_notes", {})
        shared = await cp.call("notes", "share_note", {"id": "n-3", "to": "sam@home.example"})
        other = await cp.call("notes", "share_note", {"id": "n-9", "to": "sam@home.example"})
        audit = session.audit_path
    assert (told.ok, told.decision.rule) == (False, "task-not-asked")
    assert "ask only to be told" in told.text  # why, so the user can rephrase
    assert (shared.ok, shared.decision.rule) == (True, "allow-notes-the-user-named")
    assert (other.ok, other.decision.rule) == (False, "deny-other-notes")
    listing = next(
        r for r in _records(audit) if r.get("type") == "call" and r.get("tool") == "list_notes"
    )
    assert listing["taskBindings"]["task:notes/asks:shar*|send"] == ["n-3"]
    _replays_the_same(audit, VECTORS / "askedby" / "policy", tmp_path)
    async with _session(home, tmp_path, "notes", "askedby", "asked-notes") as session:
        again = await session.chokepoint.call(
            "notes", "share_note", {"id": "n-3", "to": "sam@home.example"}
        )
    assert (again.ok, again.decision.rule) == (True, "allow-notes-the-user-named")


async def test_a_record_to_confirm_asks_once_and_a_resume_remembers(home, tmp_path: Path) -> None:
    """``records`` with ``"confirm": "always"`` on a real server's listing: the share that uses
    the bound note asks the human (refused: nothing is confirmed); after a resume the question
    comes again (the record waiting is in the audit with the bindings), approving it lets the
    share through and confirms the note, and a second resume keeps the confirmation."""
    share = {"id": "n-3", "to": "sam@home.example"}
    async with _session(home, tmp_path, "notes", "confirm", "confirm-notes") as session:
        cp = session.chokepoint
        cp.escalation = no = _Answer(approve=False)
        cp.grant_task("Share my grocery list with sam@home.example")
        await cp.call("notes", "list_notes", {})
        refused = await cp.call("notes", "share_note", share)
        other = await cp.call("notes", "share_note", {"id": "n-9", "to": "sam@home.example"})
        await cp.call("notes", "list_shared", {})
        audit = session.audit_path
    assert (refused.ok, refused.decision.rule) == (False, "confirm-bound-record")
    assert (other.ok, other.decision.rule) == (False, "deny-other-notes")  # never widened
    assert len(no.asked) == 1 and "'n-3'" in no.asked[0].reason
    listing = next(
        r for r in _records(audit) if r.get("type") == "call" and r.get("tool") == "list_notes"
    )
    assert listing["taskBindings"]["task:unconfirmed"] == ["n-3"]
    _replays_the_same(audit, VECTORS / "confirm" / "policy", tmp_path)
    async with _session(home, tmp_path, "notes", "confirm", "confirm-notes") as session:
        cp = session.chokepoint
        cp.escalation = yes = _Answer(approve=True)
        approved = await cp.call("notes", "share_note", share)
        again = await cp.call("notes", "share_note", share)
    assert approved.ok and again.ok and len(yes.asked) == 1
    assert again.decision.rule == "allow-notes-the-user-named"
    async with _session(home, tmp_path, "notes", "confirm", "confirm-notes") as session:
        cp = session.chokepoint
        cp.escalation = later = _Answer(approve=False)
        kept = await cp.call("notes", "share_note", share)
    assert kept.ok and not later.asked


async def test_a_narrowed_listing_asks_about_someone_elses_record(home, tmp_path: Path) -> None:
    """The chokepoint hands a listing's arguments to the session: a colleague's note found by a
    search (``query``, a narrowing argument) is confirmed before it is shared, and the record
    waiting is in the audit, so a resumed session asks too; the same note from the whole
    listing is shared with no question, and the user's own note from a search is too."""
    share = {"id": "n-21", "to": "sam@home.example"}
    async with _session(home, tmp_path, "notes", "narrowed", "narrow-notes") as session:
        cp = session.chokepoint
        cp.escalation = no = _Answer(approve=False)
        cp.grant_task("Share the assistant note with sam@home.example")
        searched = await cp.call("notes", "search_notes", {"query": "assistant"})
        refused = await cp.call("notes", "share_note", share)
        elsewhere = await cp.call("notes", "share_note", {"id": "n-21", "to": "eve@evil.example"})
        sent = await cp.call("notes", "list_shared", {})
        audit = session.audit_path
    assert searched.ok and (refused.ok, refused.decision.rule) == (False, "confirm-bound-record")
    assert (elsewhere.ok, elsewhere.decision.rule) == (False, "deny-other-shares")
    assert "n-21" not in sent.text
    assert len(no.asked) == 1 and "narrowed by query='assistant'" in no.asked[0].reason
    listing = next(
        r for r in _records(audit) if r.get("type") == "call" and r.get("tool") == "search_notes"
    )
    assert listing["taskBindings"]["task:unconfirmed"] == ["n-21"]
    _replays_the_same(audit, VECTORS / "narrowed" / "policy", tmp_path)
    async with _session(home, tmp_path, "notes", "narrowed", "narrow-notes") as session:
        cp = session.chokepoint
        cp.escalation = again = _Answer(approve=False)
        resumed = await cp.call("notes", "share_note", share)
    assert (resumed.ok, resumed.decision.rule) == (False, "confirm-bound-record")
    assert len(again.asked) == 1
    async with _session(home, tmp_path, "notes", "narrowed", "whole-notes") as session:
        cp = session.chokepoint
        cp.escalation = unused = _Answer(approve=False)
        cp.grant_task("Share the assistant note with sam@home.example")
        await cp.call("notes", "list_notes", {})
        whole = await cp.call("notes", "share_note", share)
    async with _session(home, tmp_path, "notes", "narrowed", "own-notes") as session:
        cp = session.chokepoint
        cp.escalation = unused
        cp.grant_task("Share my wifi password note with sam@home.example")
        await cp.call("notes", "search_notes", {"query": "wifi"})
        own = await cp.call("notes", "share_note", {"id": "n-9", "to": "sam@home.example"})
    assert (whole.ok, whole.decision.rule) == (True, "allow-notes-the-user-named")
    assert (own.ok, own.decision.rule) == (True, "allow-notes-the-user-named")
    assert not unused.asked
