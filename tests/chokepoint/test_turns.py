"""Turns on the file system (appliance/chokepoint/turns.py): reads together, a change alone,
writers first, and a waiter cancelled leaves nothing held."""

from __future__ import annotations

import anyio
import pytest

from appliance.chokepoint.turns import Turns

pytestmark = pytest.mark.anyio


async def _hold(turns: Turns, turn, log: list, name: str, release: anyio.Event) -> None:
    async with turns.hold(turn):
        log.append(f"{name} in")
        await release.wait()
        log.append(f"{name} out")


async def test_reads_share_a_turn_and_a_change_waits_for_them() -> None:
    turns, log, release = Turns(), [], anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "shared", log, "r1", release)
        group.start_soon(_hold, turns, "shared", log, "r2", release)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, "alone", log, "w", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        assert log == ["r1 in", "r2 in"]  # both reads at once; the change waits
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert log[-1] == "w in"
        group.cancel_scope.cancel()


async def test_a_waiting_change_keeps_new_reads_out() -> None:
    turns, log = Turns(), []
    first, writer = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "shared", log, "r1", first)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, "alone", log, "w", writer)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, "shared", log, "r2", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        assert log == ["r1 in"]  # r2 waits behind the waiting writer
        first.set()
        await anyio.wait_all_tasks_blocked()
        assert log == ["r1 in", "r1 out", "w in"]
        writer.set()
        await anyio.wait_all_tasks_blocked()
        assert log[-2:] == ["w out", "r2 in"]
        group.cancel_scope.cancel()


async def test_a_change_runs_alone() -> None:
    turns, log, release = Turns(), [], anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "alone", log, "w1", release)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, "alone", log, "w2", anyio.Event())
        group.start_soon(_hold, turns, "shared", log, "r", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        assert log == ["w1 in"]
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert log[:3] == ["w1 in", "w1 out", "w2 in"]
        group.cancel_scope.cancel()


async def test_a_change_cancelled_while_waiting_lets_the_reads_behind_it_go() -> None:
    turns, log, release = Turns(), [], anyio.Event()
    waiting = anyio.CancelScope()

    async def writer() -> None:
        with waiting:  # the writer's caller gives up (a timeout) while it waits
            await _hold(turns, "alone", log, "w", anyio.Event())

    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "shared", log, "r1", release)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(writer)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, "shared", log, "r2", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        assert log == ["r1 in"]  # r2 waits behind the writer
        waiting.cancel()
        await anyio.wait_all_tasks_blocked()
        assert log == ["r1 in", "r2 in"]  # and goes when the writer is gone, r1 still in
        group.cancel_scope.cancel()


async def test_calls_that_name_no_path_take_no_turn() -> None:
    turns, log = Turns(), []
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "alone", log, "w", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        group.start_soon(_hold, turns, None, log, "web", anyio.Event())
        await anyio.wait_all_tasks_blocked()
        assert log == ["w in", "web in"]
        group.cancel_scope.cancel()


async def test_changes_run_in_the_order_they_came() -> None:
    """Two moves the agent sent one after the other (``a -> b``, then ``z -> a``) run in that
    order, whatever order the waiters wake in."""
    turns, log, release = Turns(), [], anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(_hold, turns, "shared", log, "r", release)
        await anyio.wait_all_tasks_blocked()
        for name in ("w1", "w2", "w3"):
            group.start_soon(_hold, turns, "alone", log, name, anyio.Event())
            await anyio.wait_all_tasks_blocked()
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert log == ["r in", "r out", "w1 in"]
        group.cancel_scope.cancel()


async def test_an_approved_call_whose_path_leads_elsewhere_since_is_refused(home, tmp_path):
    """A write outside the sandbox is asked; while the human reads the question, the folder it
    writes into becomes a link to another folder (another call's work, or the agent's). The
    approval was for the path as judged: the call is judged again, the turn taken again, and
    refused, nothing written anywhere."""
    import os

    from chokepoint_helpers import session_for

    from appliance.chokepoint.escalation.models import Verdict
    from appliance.config.settings import Config

    docs, other = tmp_path / "docs", tmp_path / "other"
    (docs / "p").mkdir(parents=True)
    other.mkdir()

    class SwappingHuman:
        async def ask(self, request):
            os.rename(docs / "p", docs / "p-old")
            os.symlink(other, docs / "p")
            return Verdict(approved=True, by="user")

    config = Config(escalation_timeout_seconds=5, allowed_directories=(str(tmp_path),))
    async with session_for(home, tmp_path / "sandbox", channel=SwappingHuman(), config=config) as s:
        outcome = await s.chokepoint.call(
            "filesystem", "write_file", {"path": str(docs / "p" / "x.txt"), "content": "x"}
        )
    assert outcome.decision.rule == "structural-changed-since-approved", outcome.text
    assert not (other / "x.txt").exists() and not (docs / "p-old" / "x.txt").exists()


async def test_an_approved_call_whose_paths_did_not_move_goes_ahead(home, tmp_path):
    from chokepoint_helpers import ScriptedHuman, session_for

    from appliance.chokepoint.escalation.models import Verdict
    from appliance.config.settings import Config

    (tmp_path / "docs").mkdir()
    config = Config(escalation_timeout_seconds=5, allowed_directories=(str(tmp_path),))
    human = ScriptedHuman(Verdict(approved=True, by="user"))
    async with session_for(home, tmp_path / "sandbox", channel=human, config=config) as s:
        outcome = await s.chokepoint.call(
            "filesystem", "write_file", {"path": str(tmp_path / "docs" / "x.txt"), "content": "x"}
        )
    assert outcome.ok, outcome.text
    assert (tmp_path / "docs" / "x.txt").read_text() == "x"
