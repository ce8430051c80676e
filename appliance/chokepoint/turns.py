"""Whose turn it is on the file system: a call that changes it runs alone.

The policy judges a path where it leads when the call is judged (the server's judge resolves its
symlinks); the server then acts on it. Between the two, another call of the same session could
change what the path leads to: a folder renamed over another turns a judged sandbox write into a
write through a symlink swapped in (attack round 15: four slow searches kept the server's workers
busy while two moves were judged, and the write judged before them ran after them). So a call
whose arguments name a path and that has side effects holds the file system from the moment it
is judged to its result, with no other such call judged or running; calls that only read paths
share it with each other. Calls that name no path (a web page, an API) take no turn.

Calls take turns in the order they come: a change waits for the reads before it and keeps the
reads after it out (a stream of reads cannot starve it), and changes run in their order.
A turn held while a human is asked keeps the other path calls waiting; a question is about the
very layout it was judged on, and the answer applies to that layout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import anyio

__all__ = ["Held", "Turn", "Turns"]

Turn = Literal["shared", "alone"] | None


@dataclass
class Held:
    """A turn a call holds (``taken``: not given back for a while)."""

    turn: Turn
    taken: bool = True


class Turns:
    """A readers-writer turn in arrival order, safe to cancel while waiting. A free turn is
    taken without waiting on anything (no event-loop round trip: a call costs its judgement)."""

    def __init__(self) -> None:
        self._readers = 0
        self._writing = False
        self._writers: list[int] = []  # the tickets of the changes waiting, oldest first
        self._tickets = 0
        self._waiters: list[anyio.Event] = []

    @asynccontextmanager
    async def hold(self, turn: Turn) -> AsyncIterator[Held]:
        """The turn, from entry to exit (or to :meth:`released`)."""
        await self._take(turn)
        held = Held(turn)
        try:
            yield held
        finally:
            if held.taken:
                self._give_back(turn)

    @asynccontextmanager
    async def released(self, held: Held) -> AsyncIterator[None]:
        """Inside :meth:`hold`: the turn given back for a while (a human is asked: the other
        calls go on meanwhile), and taken again when the block ends normally."""
        self._give_back(held.turn)
        held.taken = False
        yield
        await self._take(held.turn)
        held.taken = True

    async def _take(self, turn: Turn) -> None:
        if turn is None:
            return
        ticket = self._tickets
        self._tickets += 1
        alone = turn == "alone"
        if alone:
            self._writers.append(ticket)  # changes in the order they came
        try:
            while not self._may_go(alone, ticket):
                event = anyio.Event()
                self._waiters.append(event)
                await event.wait()
        except BaseException:
            if alone:  # cancelled while waiting: the calls held back behind it may go
                self._writers.remove(ticket)
                self._wake()
            raise
        if alone:
            self._writers.remove(ticket)
            self._writing = True
        else:
            self._readers += 1

    def _may_go(self, alone: bool, ticket: int) -> bool:
        if self._writing:
            return False
        if alone:  # no read running, and the oldest change waiting
            return self._readers == 0 and self._writers[0] == ticket
        return not self._writers or self._writers[0] > ticket  # after the changes before it

    def _give_back(self, turn: Turn) -> None:
        if turn is None:
            return
        if turn == "shared":
            self._readers -= 1
        else:
            self._writing = False
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()
