"""Pending escalations of all running sessions, and answers bound to their exact call digest.

The hub reads the registry and each live session's ``escalations/`` folder (the file IPC of
``escalation-listener``) and gives every request a short id. An answer names the short id *and*
the call digest the approver saw; it is written as ``response-<id>.json`` only when both match
a request that is still waiting, so it cannot be replayed onto a later call or forged for another
one. The session's file channel reads the first response and removes both files: first answer
wins across channels, because every channel goes through :meth:`Hub.answer`.

Every answer and every refusal (unknown or replayed id, digest mismatch, bad token at a channel)
is appended to ``answers.jsonl`` (0600) with the channel it came from; refusals anyone may cause
at will (no token, a stranger's message) are counted and appended at the 1st, 10th, 100th ...
The hub never reads or holds a provider key: it sees only the request files sessions write for
approvers.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from appliance.chokepoint.escalation.files import request_path, response_path, write_atomic
from appliance.chokepoint.escalation.listener import _read_request
from appliance.chokepoint.escalation.models import EscalationRequest
from appliance.chokepoint.escalation.registry import SessionEntry, live_sessions
from appliance.host.atomic import append_json_line

__all__ = ["AnswerResult", "Hub", "Pending"]

Decision = Literal["approve", "deny"]


@dataclass(frozen=True)
class Pending:
    short_id: str
    request: EscalationRequest
    directory: Path
    seen: datetime


@dataclass(frozen=True)
class AnswerResult:
    ok: bool
    message: str


@dataclass
class Hub:
    """Thread-safe: the console's request threads and the refresh loop share one hub."""

    registry_dir: Path
    audit_path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _pending: dict[str, Pending] = field(default_factory=dict)
    _closed: dict[str, str] = field(default_factory=dict)  # short id -> how it ended
    _bad: set[Path] = field(default_factory=set)
    _counted: dict[tuple[str, str], int] = field(default_factory=dict)
    sessions: list[SessionEntry] = field(default_factory=list)

    def refresh(self) -> None:
        """Pick up new requests; forget those answered elsewhere, timed out, or of dead sessions."""
        sessions = live_sessions(self.registry_dir)
        with self._lock:
            self.sessions = sessions
            known = {(p.directory, p.request.id) for p in self._pending.values()}
            for session in sessions:
                for path in sorted(session.escalations_dir.glob("request-*.json")):
                    key = (session.escalations_dir, path.name[len("request-") : -len(".json")])
                    if key not in known and path not in self._bad:
                        self._pick_up(path, session)
            live = {session.escalations_dir for session in sessions}
            for short_id, item in list(self._pending.items()):
                path = request_path(item.directory, item.request.id)
                if item.directory not in live:
                    # a killed session leaves its request file: nobody waits for an answer,
                    # and a resumed session must not be offered the old call again
                    del self._pending[short_id]
                    self._closed[short_id] = "withdrawn (its session ended)"
                    self._bad.add(path)
                elif not path.exists():
                    del self._pending[short_id]
                    self._closed[short_id] = "withdrawn (answered elsewhere or timed out)"

    def _pick_up(self, path: Path, session: SessionEntry) -> None:
        try:
            request = _read_request(path)
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            self._bad.add(path)
            return
        if request.session_id != session.session_id:
            self._bad.add(path)  # a request filed under another session's name
            return
        short_id = str(next(self._numbers))
        self._pending[short_id] = Pending(short_id, request, session.escalations_dir, _now())

    def pending(self) -> list[Pending]:
        with self._lock:
            return sorted(self._pending.values(), key=lambda p: int(p.short_id))

    def answer(
        self, short_id: str, decision: str, digest: str, channel: str, *, who: str = ""
    ) -> AnswerResult:
        """Answer one escalation; refused and audited unless id and digest match a live one."""
        with self._lock:
            item = self._pending.get(short_id)
            if decision not in ("approve", "deny"):
                return self._refuse(channel, short_id, digest, f"unknown decision {decision!r}")
            if item is None:
                why = self._closed.get(short_id)
                reason = f"replayed: already {why}" if why else "no such pending escalation"
                return self._refuse(channel, short_id, digest, reason)
            if digest != item.request.call_digest:
                return self._refuse(
                    channel, short_id, digest, "call digest does not match the escalated call"
                )
            request, directory = item.request, item.directory
            if not request_path(directory, request.id).exists():
                del self._pending[short_id]
                self._closed[short_id] = "withdrawn (answered elsewhere or timed out)"
                return self._refuse(channel, short_id, digest, "replayed: already withdrawn")
            answer = {"id": request.id, "decision": decision, "callDigest": request.call_digest}
            response = response_path(directory, request.id)
            write_atomic(response, json.dumps(answer))
            del self._pending[short_id]
            verb = "approved" if decision == "approve" else "denied"
            self._closed[short_id] = f"{verb} via {channel}"
            if not request_path(directory, request.id).exists() and response.exists():
                response.unlink(missing_ok=True)  # the session gave up meanwhile: leave nothing
                return self._refuse(channel, short_id, digest, "withdrawn before the answer")
            self._audit(channel, short_id, request, verb, "", who)
            return AnswerResult(True, f"[{short_id}] {verb}")

    def refuse(self, channel: str, reason: str, *, short_id: str = "", digest: str = "") -> None:
        """Audit a refusal a channel made before reaching the hub (a bad token, say)."""
        with self._lock:
            self._refuse(channel, short_id, digest, reason)

    def refuse_counted(self, channel: str, reason: str, detail: str = "") -> int:
        """Count a refusal anyone may cause at will (a console request without the token, from
        any web page; a Signal message from any number) and audit only its 1st, 10th, 100th ...
        in this run, with the count and this one's ``detail``: each was a line in the audit,
        fsynced under the lock, so a flood grew the file without bound, slowed every answer and
        pushed real answers off the console. Returns the count."""
        with self._lock:
            count = self._counted[channel, reason] = self._counted.get((channel, reason), 0) + 1
            if str(count).strip("0") == "1":  # a power of ten: a few lines however many come
                where = f"{detail}; " if detail else ""
                self._refuse(channel, "", "", f"{reason} ({where}{count} this run)")
        return count

    def _refuse(self, channel: str, short_id: str, digest: str, reason: str) -> AnswerResult:
        item = self._pending.get(short_id)
        record = {
            "ts": _now().isoformat(),
            "channel": channel,
            "shortId": short_id,
            "requestId": item.request.id if item else "",
            "sessionId": item.request.session_id if item else "",
            "callDigest": digest[:64],
            "outcome": "refused",
            "reason": reason,
        }
        self._append(record)
        return AnswerResult(False, reason)

    def _audit(
        self,
        channel: str,
        short_id: str,
        request: EscalationRequest,
        outcome: str,
        reason: str,
        who: str,
    ) -> None:
        self._append(
            {
                "ts": _now().isoformat(),
                "channel": channel,
                "who": who,
                "shortId": short_id,
                "requestId": request.id,
                "sessionId": request.session_id,
                "server": request.server,
                "tool": request.tool,
                "callDigest": request.call_digest,
                "outcome": outcome,
                "reason": reason,
            }
        )

    def _append(self, record: dict[str, str]) -> None:
        self.audit_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        append_json_line(self.audit_path, record, sort_keys=True)

    def answers(self) -> list[dict[str, str]]:
        """The audit of answers and refusals, oldest first."""
        try:
            text = self.audit_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _now() -> datetime:
    return datetime.now(UTC)
