"""The in-process prompt of an interactive session: ``/approve N``, ``/deny N``.

``ask`` prints the call and waits until the session's input loop calls :meth:`approve` or
:meth:`deny` with the number shown, or the timeout passes (a denial). The answer is kept in a
lock-guarded slot that ``ask`` polls, so the input loop may call from any thread and any event
loop; a human does not notice 20 ms.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import anyio

from appliance.chokepoint.escalation.display import format_request
from appliance.chokepoint.escalation.models import EscalationRequest, Verdict
from appliance.config.models import DEFAULT_ESCALATION_TIMEOUT_S

__all__ = ["InteractivePrompt", "PendingEscalation"]

_POLL_S = 0.02


@dataclass(frozen=True)
class PendingEscalation:
    number: int
    request: EscalationRequest


class InteractivePrompt:
    """Asks the user at the session's own terminal. ``write`` receives whole lines."""

    def __init__(
        self,
        write: Callable[[str], object] | TextIO,
        timeout_s: float = DEFAULT_ESCALATION_TIMEOUT_S,
    ) -> None:
        self._write = _line_writer(write)
        self._timeout = timeout_s
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, EscalationRequest] = {}
        self._answers: dict[int, Verdict] = {}

    def pending(self) -> list[PendingEscalation]:
        with self._lock:
            return [PendingEscalation(n, r) for n, r in sorted(self._pending.items())]

    def approve(self, number: int, scope: str = "once", note: str = "") -> bool:
        """Approve escalation ``number``; False when no such escalation is waiting."""
        if scope not in ("once", "similar"):
            raise ValueError(f"scope must be 'once' or 'similar', not {scope!r}")
        return self._answer(number, Verdict(approved=True, by="user", scope=scope, note=note))

    def deny(self, number: int, note: str = "") -> bool:
        """Deny escalation ``number``; False when no such escalation is waiting."""
        return self._answer(number, Verdict.deny("user", note))

    def deny_pending(self, note: str) -> int:
        """Deny every escalation still waiting (the user quit or interrupted); how many."""
        with self._lock:
            waiting = [n for n in self._pending if n not in self._answers]
            for number in waiting:
                self._answers[number] = Verdict.deny("user", note)
        return len(waiting)

    def command(self, line: str) -> str | None:
        """Run ``/approve N [similar]`` or ``/deny N``; a message for the user, or None when
        ``line`` is not an escalation command (the session handles it)."""
        words = line.split()
        if not words or words[0] not in ("/approve", "/deny"):
            return None
        similar = words[2:] == ["similar"] and words[0] == "/approve"
        if len(words) not in (2, 3) or not words[1].isdigit() or (len(words) == 3 and not similar):
            return "usage: /approve N [similar] | /deny N"
        number = int(words[1])
        if words[0] == "/deny":
            done = self.deny(number)
        else:
            done = self.approve(number, scope="similar" if similar else "once")
        if not done:
            return f"no pending escalation {number}"
        return f"[{number}] {'approved' if words[0] == '/approve' else 'denied'}"

    def _answer(self, number: int, verdict: Verdict) -> bool:
        with self._lock:
            if number not in self._pending or number in self._answers:
                return False
            self._answers[number] = verdict
            return True

    async def ask(self, request: EscalationRequest) -> Verdict:
        with self._lock:
            number = next(self._numbers)
            self._pending[number] = request
        try:
            shown = format_request(number, request)
            self._write(f"Escalation: the policy asks for your decision.\n{shown}\n")
            with anyio.move_on_after(self._timeout):
                while True:
                    with self._lock:
                        verdict = self._answers.get(number)
                    if verdict is not None:
                        return verdict
                    await anyio.sleep(_POLL_S)
            self._write(f"[{number}] no answer within {self._timeout:g} s: denied\n")
            return Verdict.deny("user", f"no answer within {self._timeout:g} s", timed_out=True)
        except anyio.get_cancelled_exc_class():
            # Answered on another channel, or the call was cut off (Code Mode's run passed its
            # wall-clock limit): the question is no longer asked, and its reader is told so.
            with contextlib.suppress(Exception):
                self._write(f"[{number}] withdrawn (answered elsewhere, or its call was cut off)\n")
            raise
        except Exception as exc:  # a broken writer must deny, never escape into the chokepoint
            return Verdict.deny("user", f"the prompt failed: {type(exc).__name__}", failed=True)
        finally:
            with self._lock:
                self._pending.pop(number, None)
                self._answers.pop(number, None)


def _line_writer(target: Callable[[str], object] | TextIO) -> Callable[[str], object]:
    """Accept a stream (``sys.stdout``) or a function; a stream is flushed after each write."""
    write = getattr(target, "write", None)
    if write is None:
        return target  # type: ignore[return-value]
    stream = target

    def write_and_flush(text: str) -> None:
        write(text)
        stream.flush()  # type: ignore[union-attr]

    return write_and_flush
