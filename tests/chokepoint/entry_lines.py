"""Turn tests/vectors/entry/messages.json cases into the exact bytes a client sends."""

from __future__ import annotations

import json
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "entry" / "messages.json"


def cases() -> list[dict]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]


def line_bytes(case: dict, request_id: int = 7) -> bytes:
    spec = case["line"]
    if "repeat" in spec:
        parts = spec["repeat"]
        text = "".join(parts[i] * parts[i + 1] for i in range(0, len(parts), 2))
        return text.encode() + b"\n"
    if "raw_hex" in spec:
        return bytes.fromhex(spec["raw_hex"]) + b"\n"
    tool = spec.get("tool", "filesystem__read_text_file")
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
        f'"params": {{"name": "{tool}", "arguments": {spec["call_args_raw"]}}}}}\n'
    ).encode()
