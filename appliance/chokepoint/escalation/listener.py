"""The escalation listener's state: pending requests of every live session, and the commands.

Kept apart from the command module so tests can drive it line by line. The listener answers
only requests it has read and shown, and only while their request file still exists; a late
answer (the session timed out meanwhile) is removed again, so nothing is left to be read later.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from appliance.chokepoint.escalation.display import format_request, neutralise
from appliance.chokepoint.escalation.files import request_path, response_path, write_atomic
from appliance.chokepoint.escalation.models import EscalationRequest
from appliance.chokepoint.escalation.registry import SessionEntry, live_sessions
from policy.api import JSONRefused
from policy.api import loads as safe_loads

__all__ = ["HELP", "Listener"]

_MAX_REQUEST = 1024 * 1024
HELP = "commands: /approve N [similar] | /deny N | /approve all | /deny all | /sessions | /quit"


@dataclass(frozen=True)
class _Pending:
    request: EscalationRequest
    directory: Path


def _read_request(path: Path) -> EscalationRequest:
    """Parse one request file; raises ValueError for anything odd (symlink, size, shape)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("not a regular file")
        data = handle.read(_MAX_REQUEST + 1)
    if len(data) > _MAX_REQUEST:
        raise ValueError("request file too large")
    try:
        request = EscalationRequest.model_validate(safe_loads(data, max_bytes=_MAX_REQUEST))
    except JSONRefused as exc:
        raise ValueError(f"malformed request: {exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"malformed request ({exc.error_count()} problems)") from exc
    if path.name != f"request-{request.id}.json":
        raise ValueError("request id does not match its file name")
    return request


class Listener:
    def __init__(
        self,
        registry_dir: Path,
        write: Callable[[str], object],
        *,
        sessions: Callable[[], list[SessionEntry]] | None = None,
    ) -> None:
        """``sessions``: whose requests to answer (default: every live session in the registry;
        a `--pty` session's own prompt passes its one session)."""
        self._registry = Path(registry_dir)
        self._sessions = sessions or (lambda: live_sessions(self._registry))
        self._write = write
        self._numbers = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._bad: set[Path] = set()
        self.sessions: list[SessionEntry] = []

    def refresh(self) -> None:
        """Pick up new requests, forget withdrawn ones; print what changed."""
        self.sessions = self._sessions()
        known = {(p.directory, p.request.id) for p in self._pending.values()}
        for session in self.sessions:
            for path in sorted(session.escalations_dir.glob("request-*.json")):
                key = (session.escalations_dir, path.name[len("request-") : -len(".json")])
                if key in known or path in self._bad:
                    continue
                self._pick_up(path, session)
        live_dirs = {session.escalations_dir for session in self.sessions}
        for number, item in list(self._pending.items()):
            if item.directory not in live_dirs:
                del self._pending[number]
                self._write(f"[{number}] withdrawn: its session is no longer running\n")
            elif not request_path(item.directory, item.request.id).exists():
                del self._pending[number]
                self._write(f"[{number}] withdrawn (answered elsewhere or timed out)\n")

    def _pick_up(self, path: Path, session: SessionEntry) -> None:
        try:
            request = _read_request(path)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self._bad.add(path)
            self._write(f"ignoring {neutralise(str(path))}: {neutralise(str(exc))}\n")
            return
        if request.session_id != session.session_id:
            self._bad.add(path)
            self._write(f"ignoring {neutralise(str(path))}: it names another session\n")
            return
        number = next(self._numbers)
        self._pending[number] = _Pending(request, session.escalations_dir)
        self._write(format_request(number, request, session=True) + "\n")

    @property
    def pending(self) -> dict[int, _Pending]:
        return dict(self._pending)

    def handle(self, line: str) -> bool:
        """Run one command line; False means quit."""
        words = line.split()
        if not words:
            return True
        command, rest = words[0].lower(), words[1:]
        if command in ("/quit", "/exit"):
            return False
        if command == "/sessions":
            self._show_sessions()
        elif command in ("/approve", "/deny") and rest:
            self._decide(command == "/approve", rest)
        elif command in ("/list", "/pending"):
            self._show_pending()
        else:
            self._write(HELP + "\n")
        return True

    def _decide(self, approve: bool, rest: list[str]) -> None:
        scope = "similar" if rest[1:] == ["similar"] and approve else "once"
        if len(rest) > 2 or (len(rest) == 2 and scope != "similar"):
            self._write(HELP + "\n")
            return
        if rest[0].lower() == "all":
            numbers = sorted(self._pending)
        elif rest[0].isdigit() and int(rest[0]) in self._pending:
            numbers = [int(rest[0])]
        else:
            self._write(f"no pending escalation {neutralise(rest[0])}\n")
            return
        for number in numbers:
            self._answer(number, approve, scope)

    def _answer(self, number: int, approve: bool, scope: str) -> None:
        item = self._pending.pop(number)
        request, directory = item.request, item.directory
        if not request_path(directory, request.id).exists():
            self._write(f"[{number}] already withdrawn; nothing sent\n")
            return
        answer = {
            "id": request.id,
            "decision": "approve" if approve else "deny",
            "callDigest": request.call_digest,
            "scope": scope,
        }
        response = response_path(directory, request.id)
        write_atomic(response, json.dumps(answer))
        # The session gave up meanwhile (its request is gone, our answer unread): leave nothing.
        if not request_path(directory, request.id).exists() and response.exists():
            response.unlink(missing_ok=True)
            self._write(f"[{number}] was withdrawn before the answer arrived\n")
            return
        verb = "approved" + (" (and similar calls)" if scope == "similar" else "")
        self._write(f"[{number}] {verb if approve else 'denied'}\n")

    def _show_sessions(self) -> None:
        if not self.sessions:
            self._write("no running sessions\n")
        for entry in self.sessions:
            waiting = sum(p.directory == entry.escalations_dir for p in self._pending.values())
            self._write(
                f"session {neutralise(entry.session_id)} pid {entry.pid} "
                f"started {entry.started:%Y-%m-%d %H:%M:%S} UTC, {waiting} pending\n"
            )

    def _show_pending(self) -> None:
        if not self._pending:
            self._write("no pending escalations\n")
        for number, item in sorted(self._pending.items()):
            self._write(format_request(number, item.request, session=True) + "\n")
