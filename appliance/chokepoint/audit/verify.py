"""Checking an audit log: every seal, the chain, the checkpoints' signatures, and how it ends.

The answer is one :class:`Status`, said in words by ``problem`` / ``notes``:

- ``closed``: every record is sealed and chained, the log ends with the session's ``end`` record
  and a checkpoint signed by a trusted key covers it: nothing was changed, added or cut.
- ``open``: intact so far and the session is still running (the caller says so, from the
  registry); records after the last checkpoint are sealed but not signed yet.
- ``cut``: intact, but no signed end: the writer was killed (perhaps mid-line) or lines were
  removed from the end. Every complete record before the cut still verifies.
- ``edited``: a record was changed, removed, inserted or reordered, or a checkpoint's signature
  fails: ``first_bad_line`` and ``bad_record`` name where.
- ``unproven``: nothing contradicts the log but it cannot be proven: format 1 (no seals, no
  signatures), written without a signing key, or signed by a key the caller does not trust.
- ``empty``: no header.

Apart from the status, ``dangling`` lists the calls that went ahead (an ``intent`` record, written
before the server was called) with no completed record naming that intent: the host died while
the server worked, so each may have had its effect and its outcome is unknown (while the session
runs, a call in flight looks the same). A resumed session writes an ``outcome-unknown`` record
for each; they stay listed, with the seq of that report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.chokepoint.audit.journal import journal_path
from appliance.chokepoint.audit.seal import parse_strict, unseal
from appliance.chokepoint.audit.signing import checkpoint_message, verify_checkpoint

__all__ = ["Dangling", "Status", "VerifyResult", "verify_file"]


class Status(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    CUT = "cut"
    EDITED = "edited"
    UNPROVEN = "unproven"
    EMPTY = "empty"


@dataclass(frozen=True)
class Dangling:
    """A call that went ahead with no completed record: its outcome is unknown."""

    seq: int  # the intent record's
    ts: str
    server: str
    tool: str
    decision: str
    rule: str
    call_digest: str
    reported: int | None = None  # the seq of the ``outcome-unknown`` record written on resume

    def describe(self) -> str:
        return (
            f"record {self.seq} ({self.ts}): {self.server}/{self.tool} "
            f"({self.decision} by {self.rule})"
        )


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_file` found. ``entries`` counts intact records after the header."""

    status: Status
    entries: int
    version: int = 0
    session_id: str = ""
    first_bad_line: int | None = None
    bad_record: int | None = None  # the seq of the record named by ``problem``
    problem: str | None = None
    truncated: bool = False  # the last line is incomplete (a writer killed mid-write)
    ended: bool = False  # the last record (checkpoints aside) is the session's ``end``
    signed_through: int = -1  # the last seq covered by a valid, trusted checkpoint
    checkpoints: int = 0
    last_seq: int = -1
    head_hash: str = ""
    notes: tuple[str, ...] = field(default=())
    dangling: tuple[Dangling, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Nothing was edited: every complete record's seal and chain link verify."""
        return self.status not in (Status.EDITED, Status.EMPTY) and not self.truncated


@dataclass
class _Walk:
    """State while walking the lines."""

    keys: Mapping[str, Ed25519PublicKey]
    session_id: str = ""
    version: int = 0
    hashes: list[str] = field(default_factory=list)
    last_content: dict[str, Any] = field(default_factory=dict)
    signed_through: int = -1
    checkpoints: int = 0
    untrusted: set[str] = field(default_factory=set)
    signing: bool = False  # the header names a key (format 2 written with a signer)
    intents: dict[int, Dangling] = field(default_factory=dict)  # not completed (yet)


class _Edited(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def verify_file(
    path: Path,
    keys: Mapping[str, Ed25519PublicKey] | None = None,
    running: Callable[[str], bool] | None = None,
) -> VerifyResult:
    """Check the log at ``path`` against the trusted ``keys`` (by key id); ``running(id)``
    says whether its session is still running. Raises ``FileNotFoundError`` for no file."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, as every complete log does
    if not lines:
        why = "the file is empty (no header)" if not tail else "no complete header line"
        return VerifyResult(Status.EMPTY, 0, first_bad_line=1, problem=f"line 1: {why}")
    walk = _Walk(keys or {})
    try:
        for number, line in enumerate(lines, start=1):
            _check(walk, number, line)
    except _Edited as bad:
        return _edited(walk, bad)
    result = _conclude(walk, len(lines), tail, running)
    if walk.intents:
        dangling = tuple(walk.intents.values())
        notes = tuple(_dangling_note(d, result.status) for d in dangling)
        result = replace(result, dangling=dangling, notes=(*result.notes, *notes))
    journal = journal_path(Path(path))
    if not result.ended and result.status in (Status.CUT, Status.UNPROVEN) and journal.exists():
        note = (
            f"its journal {journal.name} is beside it (the writer did not close the log): "
            "resuming the session appends the records it holds that the log lost"
        )
        result = replace(result, notes=(*result.notes, note))
    return result


def _dangling_note(call: Dangling, status: Status) -> str:
    if status is Status.OPEN and call.reported is None:
        return f"{call.describe()}: sent to its server, no result recorded yet (in flight)"
    text = (
        f"{call.describe()}: sent to its server, no result recorded: it may have had its "
        "effect: outcome unknown"
    )
    if call.reported is not None:
        text += f" (reported when the session resumed, record {call.reported})"
    return text


def _edited(walk: _Walk, bad: _Edited) -> VerifyResult:
    return VerifyResult(
        Status.EDITED, max(0, bad.line - 2), walk.version, walk.session_id,
        first_bad_line=bad.line, bad_record=bad.line - 1, problem=bad.problem,
        checkpoints=walk.checkpoints, signed_through=walk.signed_through,
    )  # fmt: skip


def _check(walk: _Walk, number: int, line: bytes) -> None:
    try:
        record = parse_strict(line)
    except (ValueError, RecursionError):
        raise _Edited(number, f"line {number}: not valid JSON") from None
    if not isinstance(record, dict):
        raise _Edited(number, f"line {number}: not a JSON object")
    if number == 1:
        _check_header(walk, record)
    seq = number - 1
    if walk.version >= 2:
        claimed, why = unseal(line)
        if why:
            raise _Edited(number, f"line {number} (record {seq}): {why}")
        own = claimed
    else:
        own = hashlib.sha256(line).hexdigest()
    if number > 1:
        _check_link(walk, number, record)
    walk.hashes.append(own)
    if number > 1:
        _follow_intents(walk, seq, record)
    if record.get("type") == "checkpoint" and walk.version >= 2:
        _check_checkpoint(walk, number, record)
    elif number > 1:
        walk.last_content = record


def _follow_intents(walk: _Walk, seq: int, record: dict[str, Any]) -> None:
    """An intent opens a call; the call record naming it closes it; an ``outcome-unknown``
    record (written on resume) marks it as reported."""
    kind = record.get("type")
    if kind == "intent":
        walk.intents[seq] = Dangling(
            seq, *(str(record.get(k, "?")) for k in ("ts", "server", "tool", "decision", "rule")),
            str(record.get("callDigest", "")),
        )  # fmt: skip
        return
    named = record.get("intent")
    if not isinstance(named, int) or isinstance(named, bool) or named not in walk.intents:
        return
    if kind == "call":
        del walk.intents[named]
    elif kind == "outcome-unknown":
        walk.intents[named] = replace(walk.intents[named], reported=seq)


def _check_header(walk: _Walk, record: dict[str, Any]) -> None:
    if record.get("type") != "header" or record.get("prev", "") is not None:
        raise _Edited(1, "line 1: not a log header (the header line was changed or removed)")
    if record.get("seq") != 0:
        raise _Edited(1, f"line 1: seq is {record.get('seq')!r}, expected 0")
    if not isinstance(record.get("sessionId"), str):
        raise _Edited(1, "line 1: header has no sessionId")
    if record.get("v") not in (1, 2):
        raise _Edited(1, f"line 1: unknown format version {record.get('v')!r}")
    walk.version, walk.session_id = record["v"], record["sessionId"]
    walk.signing = isinstance(record.get("checkpoints"), dict)


def _check_link(walk: _Walk, number: int, record: dict[str, Any]) -> None:
    seq = number - 1
    if record.get("prev") != walk.hashes[-1]:
        raise _Edited(
            number,
            f"line {number} (record {seq}): its prev does not match record {seq - 1}: "
            f"record {seq - 1} was edited, or records were removed, inserted or reordered",
        )
    if record.get("type") == "header":
        raise _Edited(number, f"line {number}: a second header inside the log")
    if record.get("v") != walk.version:
        raise _Edited(number, f"line {number}: format version {record.get('v')!r} in a "
                      f"version {walk.version} log")  # fmt: skip
    if record.get("seq") != seq:
        raise _Edited(number, f"line {number}: seq is {record.get('seq')!r}, expected {seq}")
    if record.get("sessionId") != walk.session_id:
        raise _Edited(
            number, f"line {number}: sessionId {record.get('sessionId')!r} is not the header's"
        )


def _check_checkpoint(walk: _Walk, number: int, record: dict[str, Any]) -> None:
    seq, head = number - 1, record.get("head")
    where = f"line {number} (checkpoint, record {seq})"
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
        raise _Edited(number, f"{where}: malformed checkpoint")
    head_seq = head["seq"]
    if not 0 <= head_seq < seq or head.get("hash") != walk.hashes[head_seq]:
        raise _Edited(
            number,
            f"{where}: it signs record {head_seq} with a hash that is not that record's: "
            "the log was rewritten, or the checkpoint was copied from elsewhere",
        )
    key = walk.keys.get(str(record.get("keyId")))
    if key is None:
        walk.untrusted.add(str(record.get("keyId")))
        return
    message = checkpoint_message(walk.session_id, head_seq, head["hash"], str(head.get("ts")))
    if not verify_checkpoint(key, message, str(record.get("signature"))):
        raise _Edited(
            number,
            f"{where}: its signature does not verify: the log was rewritten and rehashed "
            "without the key, or the checkpoint comes from another session",
        )
    walk.checkpoints += 1
    walk.signed_through = max(walk.signed_through, head_seq)


def _conclude(
    walk: _Walk, count: int, tail: bytes, running: Callable[[str], bool] | None
) -> VerifyResult:
    last_seq = count - 1
    content_seq = walk.last_content.get("seq", 0) if walk.last_content else 0
    ended = walk.last_content.get("type") == "end"
    notes: list[str] = []
    base = {
        "version": walk.version, "session_id": walk.session_id, "ended": ended,
        "signed_through": walk.signed_through, "checkpoints": walk.checkpoints,
        "last_seq": last_seq, "head_hash": walk.hashes[-1],
        "first_bad_line": count + 1 if tail else None,
    }  # fmt: skip
    entries = count - 1
    if tail:
        notes.append(
            f"line {count + 1}: incomplete last line ({len(tail)} bytes, no newline): the "
            f"writer was killed mid-write; the {entries} records before it are intact"
        )
    if walk.version < 2:
        return VerifyResult(
            Status.UNPROVEN, entries, truncated=bool(tail), notes=tuple(notes), **base,
            problem="format 1 log (before per-record seals and signatures): the chain of "
            "complete lines verifies, but an edit of the last record, lines cut off the end, "
            "or a rewrite of the whole file cannot be detected",
        )  # fmt: skip
    if walk.signed_through < content_seq and content_seq >= 1:
        first = max(1, walk.signed_through + 1)
        notes.append(f"records {first}..{content_seq} are sealed but not covered by a "
                     "signed checkpoint")  # fmt: skip
    if ended and not tail and walk.signed_through >= content_seq:
        return VerifyResult(Status.CLOSED, entries, notes=tuple(notes), **base)
    if walk.untrusted or not walk.signing:
        return VerifyResult(
            Status.UNPROVEN, entries, truncated=bool(tail), notes=tuple(notes), **base,
            problem=_unproven(walk),
        )  # fmt: skip
    if running is not None and running(walk.session_id):
        return VerifyResult(Status.OPEN, entries, truncated=bool(tail), notes=tuple(notes),
                            problem="the session is still running", **base)  # fmt: skip
    why = (
        "the end record is not covered by a signed checkpoint"
        if ended
        else "there is no end record and the session is not running"
    )
    return VerifyResult(Status.CUT, entries, truncated=bool(tail), notes=tuple(notes),
                        problem=f"the log was cut: {why}", **base)  # fmt: skip


def _unproven(walk: _Walk) -> str:
    if walk.untrusted:
        ids = ", ".join(sorted(walk.untrusted))
        return (
            f"checkpoints are signed by key {ids}, which is not a trusted key here: pass the "
            "public key of the installation that wrote the log (`audit verify --key FILE`)"
        )
    return (
        "the log was written without a signing key: seals and chain verify, but a rewrite "
        "of the whole file with recomputed hashes cannot be detected"
    )
