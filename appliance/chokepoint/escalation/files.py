"""File IPC with the escalation listener: one request file, one response file, both atomic.

The session writes ``request-<id>.json`` (temp file + rename, mode 0600) into its private
``escalations/`` folder and polls for ``response-<id>.json``. Only an exact answer approves::

    {"id": "<same id>", "decision": "approve" | "deny", "callDigest": "<same digest>",
     "scope": "once" | "similar"}          # scope optional

Anything else (unparsable, extra keys, wrong id or digest, a symlink, over 64 KiB), the
timeout, or a listener that held the lock and then died, is a denial. Both files are removed
when ``ask`` returns or is cancelled, so no open approval is left behind to be answered later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

import anyio

from appliance.chokepoint.escalation.models import EscalationRequest, Verdict
from appliance.chokepoint.escalation.registry import listener_pid
from appliance.config.models import DEFAULT_ESCALATION_TIMEOUT_S
from appliance.host.atomic import write_text_atomic
from policy.api import JSONRefused
from policy.api import loads as safe_loads

__all__ = ["FileChannel", "parse_response", "request_path", "response_path", "write_atomic"]

log = logging.getLogger(__name__)

_MAX_RESPONSE = 64 * 1024
_RESPONSE_KEYS = {"id", "decision", "callDigest", "scope"}


def request_path(directory: Path, request_id: str) -> Path:
    return directory / f"request-{request_id}.json"


def response_path(directory: Path, request_id: str) -> Path:
    return directory / f"response-{request_id}.json"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees all of it or nothing (mode 0600)."""
    write_text_atomic(path, text, mode=0o600)


def _remove(path: Path) -> None:
    # If the folder itself is gone or unusable, nothing can be read from it either.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _read_response(path: Path) -> bytes | None:
    """The response's bytes, None when absent; raises ValueError for anything but a small file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"response file cannot be opened safely: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("response is not a regular file")
        if info.st_uid != os.getuid():
            raise ValueError("response file belongs to another user")
        data = handle.read(_MAX_RESPONSE + 1)
    if len(data) > _MAX_RESPONSE:
        raise ValueError("response file is too large")
    return data


def parse_response(data: bytes, request: EscalationRequest) -> tuple[bool, str, str]:
    """(approved, scope, problem). ``problem`` is empty for an exact, matching answer."""
    try:
        answer: Any = safe_loads(data, max_bytes=_MAX_RESPONSE)
    except JSONRefused as exc:
        return False, "once", f"response {exc}"
    if not isinstance(answer, dict) or not {"id", "decision", "callDigest"} <= answer.keys():
        return False, "once", "response lacks id, decision or callDigest"
    if not answer.keys() <= _RESPONSE_KEYS:
        return (
            False,
            "once",
            f"response has unexpected keys {sorted(answer.keys() - _RESPONSE_KEYS)}",
        )
    if answer["id"] != request.id:
        return False, "once", "response answers a different request id"
    if answer["callDigest"] != request.call_digest:
        return False, "once", "response's callDigest does not match the escalated call"
    scope = answer.get("scope", "once")
    if scope not in ("once", "similar"):
        return False, "once", "response has an unknown scope"
    if answer["decision"] == "approve":
        return True, scope, ""
    if answer["decision"] == "deny":
        return False, "once", ""
    return False, "once", "response decision is neither approve nor deny"


class FileChannel:
    """Ask through files in ``escalations_dir``, answered by ``ironcurtain escalation-listener``."""

    def __init__(
        self,
        escalations_dir: Path,
        timeout_s: float = DEFAULT_ESCALATION_TIMEOUT_S,
        *,
        registry_dir: Path | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self._dir = Path(escalations_dir)
        self._timeout = timeout_s
        self._registry = registry_dir  # where the listener's lock (and its pid) lives
        self._poll = poll_s

    async def ask(self, request: EscalationRequest) -> Verdict:
        req_file = request_path(self._dir, request.id)
        resp_file = response_path(self._dir, request.id)
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            _remove(resp_file)  # only an answer written after the question counts
            write_atomic(req_file, request.to_file_json())
        except OSError:
            # The path and errno are for the operator; the note may reach the agent.
            log.warning("cannot write escalation request in %s", self._dir, exc_info=True)
            _remove(req_file)
            return Verdict.deny("listener", "could not write the escalation request", failed=True)
        try:
            with anyio.move_on_after(self._timeout):
                return await self._wait(request, resp_file)
            return Verdict.deny("listener", f"no answer within {self._timeout:g} s", timed_out=True)
        finally:
            _remove(req_file)
            _remove(resp_file)

    async def _wait(self, request: EscalationRequest, resp_file: Path) -> Verdict:
        listener_seen = False
        while True:
            try:
                data = _read_response(resp_file)
            except ValueError as exc:
                return Verdict.deny("listener", f"unusable response: {exc}", failed=True)
            except OSError as exc:
                return Verdict.deny("listener", f"unusable response: {exc.strerror}", failed=True)
            if data is not None:
                approved, scope, problem = parse_response(data, request)
                if problem:
                    return Verdict.deny("listener", problem, failed=True)
                return Verdict(approved=approved, by="listener", scope=scope)
            if self._registry is not None:
                alive = listener_pid(self._registry) is not None
                if listener_seen and not alive and not resp_file.exists():
                    # Checked again after the liveness test: a listener may answer and then quit.
                    note = "the escalation listener exited without answering"
                    return Verdict.deny("listener", note, failed=True)
                listener_seen = listener_seen or alive
            await anyio.sleep(self._poll)
