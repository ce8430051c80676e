"""How one audit line is sealed with its own hash (format 2), and how a seal is checked.

A sealed line is the record's compact ASCII JSON with ``"hash"`` as its last field::

    {...,"prev":"<hash of the record before>","hash":"<sha256 of everything before ,"hash">"}

The hash is SHA-256 over a domain tag and the exact bytes of the record without its hash field
(the same bytes with ``,"hash":"…"`` cut out and ``}`` put back), so checking a seal needs no
canonical re-encoding: any change of any byte, in any record including the last, changes its
hash. ``prev`` makes every hash cover the whole log before it. A seal is not a signature:
whoever can rewrite the file can recompute every hash; checkpoints (``signing.py``) close that.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from appliance.errors import ApplianceError

__all__ = ["SealError", "encode", "seal", "unseal"]

_DOMAIN = b"ironcurtain-audit-record-v2\x00"
_SEAL = re.compile(rb',"hash":"([0-9a-f]{64})"}\Z')


class SealError(ApplianceError):
    """A record that is not plain JSON data (NaN, a set, a lone surrogate...)."""


# Built once: json.dumps with these options builds a new encoder for every record.
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def encode(record: dict[str, Any]) -> bytes:
    """Compact ASCII JSON: escape sequences are stored as ``\\u001b``, never raw."""
    try:
        text = _ENCODER.encode(record)
    except (TypeError, ValueError) as exc:
        raise SealError(f"audit entry is not plain JSON data: {exc}") from exc
    return text.encode("ascii")


def _digest(body: bytes) -> str:
    return hashlib.sha256(_DOMAIN + body).hexdigest()


def seal(body: bytes) -> tuple[bytes, str]:
    """The sealed line for a record encoded without ``hash`` (a non-empty JSON object)."""
    digest = _digest(body)
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}', digest


def unseal(line: bytes) -> tuple[str, str | None]:
    """``(hash, None)`` when the line's seal matches its content, else ``(hash or "", why)``."""
    match = _SEAL.search(line)
    if match is None:
        return "", "it has no seal (no trailing hash field)"
    claimed = match.group(1).decode("ascii")
    body = line[: match.start()] + b"}"
    if _digest(body) != claimed:
        return claimed, "its hash does not match its content (the record was changed)"
    return claimed, None


def parse_strict(line: bytes) -> Any:
    """JSON with duplicate keys refused: a reader must not see a different value than the
    one a seal or signature was computed over. Raises ``ValueError``."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return json.loads(line, object_pairs_hook=pairs)
