"""Tamper vectors (``tests/vectors/audit/tamper.json``) against ``ironcurtain audit verify``.

Each case rewrites a real signed log the way someone without the signing key could (edit,
delete, reorder, reseal every hash, re-sign with another key, replay another session's
checkpoint) and checks the verdict: exit code, status, the line named, the words said.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from appliance.chokepoint.audit import AuditLog, CheckpointEvery, Signer, verify_file
from appliance.chokepoint.audit.seal import seal
from appliance.chokepoint.audit.signing import checkpoint_message
from appliance.cli.audit_cmd import trusted_keys
from appliance.cli.main import main
from appliance.config.paths import app_paths

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "audit" / "tamper.json").read_text(encoding="utf-8")
)
CALL = {"server": "filesystem", "tool": "read_text_file", "arguments": {"path": "/s/a"},
        "decision": "allow", "rule": "sandbox-containment", "status": "ok"}  # fmt: skip
NEVER = CheckpointEvery(records=1_000_000, seconds=86_400)  # checkpoints only where we say
ATTACKER = Signer.generate()  # a key the verifier does not trust
_SEAL = re.compile(rb',"hash":"[0-9a-f]{64}"}\Z')
_PREV = re.compile(rb',"prev":(null|"[0-9a-f]{64}")\Z')


def build_log(path: Path, session_id: str, closed: bool) -> list[bytes]:
    """By line: 1 header, 2-4 calls (3 denied), 5 checkpoint, 6-7 calls (7 denied), and when
    closed 8 end, 9 checkpoint."""
    signer = Signer.load_or_create(app_paths().audit_key)
    log = AuditLog.create(path, session_id, {}, [], "p" * 64, signer=signer, every=NEVER)
    for n in range(3):
        log.append({**CALL, "decision": "deny" if n == 1 else "allow", "n": n})
    log.checkpoint()
    for n in range(3, 5):
        log.append({**CALL, "decision": "deny" if n == 4 else "allow", "n": n})
    if closed:
        log.close(mark_end=True)
    else:
        log._stop_checkpoints()
    return path.read_bytes().split(b"\n")[:-1]


def rehash(lines: list[bytes]) -> list[bytes]:
    """Reseal every line in order, fixing seq, sessionId and prev: needs no key."""
    session = json.loads(lines[0])["sessionId"]
    out: list[bytes] = []
    prev = None
    for seq, line in enumerate(lines):
        body = _SEAL.sub(b"}", line)[:-1]  # without the seal and the closing brace
        body = re.sub(rb'"seq":\d+', f'"seq":{seq}'.encode(), body, count=1)
        body = re.sub(rb'"sessionId":"[^"]*"', f'"sessionId":"{session}"'.encode(), body, count=1)
        body = _PREV.sub(b',"prev":' + json.dumps(prev).encode(), body)
        sealed, prev = seal(body + b"}")
        out.append(sealed)
    return out


def repoint(lines: list[bytes]) -> list[bytes]:
    """Set every checkpoint's head hash to the hash its head record has now."""
    hashes = [json.loads(line).get("hash") for line in lines]
    out = []
    for line in lines:
        record = json.loads(line)
        if record.get("type") == "checkpoint":
            record["head"]["hash"] = hashes[record["head"]["seq"]]
            line = json.dumps(record, separators=(",", ":")).encode()
        out.append(line)
    return out


def resign(lines: list[bytes], keep_key_id: bool) -> list[bytes]:
    real_id = Signer.load_or_create(app_paths().audit_key).key_id
    session = json.loads(lines[0])["sessionId"]
    out = []
    for line in lines:
        record = json.loads(line)
        if record.get("type") == "checkpoint":
            head = record["head"]
            message = checkpoint_message(session, head["seq"], head["hash"], head["ts"])
            record["signature"] = ATTACKER.sign(message)
            record["keyId"] = real_id if keep_key_id else ATTACKER.key_id
            line = json.dumps(record, separators=(",", ":")).encode()
        out.append(line)
    return out


def downgrade(lines: list[bytes]) -> list[bytes]:
    """Rewrite the log as format 1 (no seals, no checkpoints, prev = hash of the line before)."""
    out: list[bytes] = []
    for line in lines:
        record = json.loads(line)
        if record["type"] == "checkpoint":
            continue
        record.pop("hash", None)
        record.pop("checkpoints", None)
        record["v"], record["seq"] = 1, len(out)
        record["prev"] = hashlib.sha256(out[-1]).hexdigest() if out else None
        out.append(json.dumps(record, separators=(",", ":")).encode())
    return out


def apply(step: dict[str, Any], lines: list[bytes], other: list[bytes]) -> list[bytes]:
    op = step["op"]
    if op == "replace":
        i = step["line"] - 1
        assert step["old"].encode() in lines[i], f"vector step does not apply: {step}"
        lines[i] = lines[i].replace(step["old"].encode(), step["new"].encode(), 1)
    elif op == "delete":
        del lines[step["line"] - 1]
    elif op == "swap":
        a, b = step["a"] - 1, step["b"] - 1
        lines[a], lines[b] = lines[b], lines[a]
    elif op == "keep":
        lines = lines[: step["lines"]]
    elif op == "append_copy":
        lines.append(lines[step["line"] - 1])
    elif op == "from_other":
        lines[step["line"] - 1] = other[step["line"] - 1]
    elif op == "rehash":
        lines = rehash(lines)
    elif op == "repoint":
        lines = repoint(lines)
    elif op == "downgrade":
        lines = downgrade(lines)
    elif op == "resign":
        lines = resign(lines, step["keep_key_id"])
    else:
        raise AssertionError(f"unknown vector op {op!r}")
    return lines


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["id"] for c in VECTORS["cases"]])
def test_tamper_vector(case: dict[str, Any], tmp_path: Path, capsys) -> None:
    path = tmp_path / "a" / "audit.jsonl"
    lines = build_log(path, "s-victim", closed=case["base"] == "closed")
    other = build_log(tmp_path / "b" / "audit.jsonl", "s-other", closed=True)
    for step in case["steps"]:
        lines = apply(step, list(lines), other)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    expect = case["expect"]
    assert main(["audit", "verify", str(path)]) == expect["exit"]
    out = capsys.readouterr().out
    assert expect.get("says", "") in out
    result = verify_file(path, trusted_keys([]))
    assert result.status == expect["status"]
    if "line" in expect:
        assert result.first_bad_line == expect["line"]
