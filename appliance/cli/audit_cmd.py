"""``ironcurtain audit show|verify SESSION|FILE``: read and check a session's audit log.

SESSION is a session id (its log is ``sessions/<id>/audit.jsonl`` under the IronCurtain home),
a session folder, or the path of a log file. Everything shown comes from the log, whose text
the agent partly chose, so every string is passed through ``neutralise`` before it reaches the
terminal. ``verify`` exits 0 when the chain is intact, 1 naming the first broken line and why,
2 when there is no log to check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.chokepoint.audit import verify_file
from appliance.chokepoint.escalation.display import neutralise

EXIT_OK, EXIT_BROKEN, EXIT_MISSING = 0, 1, 2
_COLUMNS = (("seq", 5), ("time", 8), ("call", 30), ("decision", 8), ("rule", 22))
_TAIL = (("escalation", 20), ("status", 7), ("ms", 7))


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the log as a readable table")
    show.add_argument("target", metavar="SESSION|FILE")
    show.add_argument("--json", action="store_true", help="print the records as JSON lines")
    verify = actions.add_parser("verify", help="check the hash chain (exit 0 intact, 1 broken)")
    verify.add_argument("target", metavar="SESSION|FILE")


def resolve_log(target: str) -> Path:
    """A file path as given; a session folder's audit.jsonl; else the session id's log."""
    path = Path(target).expanduser()
    if path.is_dir():
        return path / "audit.jsonl"
    if path.exists() or "/" in target or target.endswith(".jsonl"):
        return path
    from appliance.config.paths import app_paths

    return app_paths().session_dir(target) / "audit.jsonl"


def run(args: argparse.Namespace) -> int:
    path = resolve_log(args.target)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        print(f"no audit log at {path}", file=sys.stderr)
        return EXIT_MISSING
    except OSError as exc:
        print(f"cannot read audit log {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_MISSING
    if args.action == "verify":
        return _verify(path)
    if args.json:
        _show_json(data)
        return EXIT_OK
    _show_table(data)
    _verify(path)
    return EXIT_OK


def _verify(path: Path) -> int:
    result = verify_file(path)
    if result.ok:
        print(f"intact: {result.entries} entries, hash chain verified")
        if result.ended:
            print("the log ends with the session's end record")
        return EXIT_OK
    label = "INCOMPLETE" if result.truncated else "BROKEN"
    print(f"{label}: {neutralise(result.problem or 'unknown problem')}")
    print(f"entries before line {result.first_bad_line} verify: {result.entries}")
    return EXIT_BROKEN


def _show_json(data: bytes) -> None:
    for raw in data.splitlines():
        print(neutralise(raw.decode("utf-8", errors="replace"), json_text=True))


def _cell(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else "-" if value is None else str(value)
    return _fit(neutralise(text), width)


def _fit(safe_text: str, width: int) -> str:
    return safe_text if len(safe_text) <= width else safe_text[: width - 1] + "…"


def _escalation(record: dict[str, Any]) -> str:
    escalation = record.get("escalation")
    if not isinstance(escalation, dict):
        return "-"
    return f"{escalation.get('outcome', '?')} by {escalation.get('by', '?')}"


def _show_table(data: bytes) -> None:
    columns = (*_COLUMNS, *_TAIL)
    titles = "  ".join(name.ljust(width) for name, width in columns).rstrip()
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            text = neutralise(raw[:200].decode("utf-8", errors="replace"))
            print(f"line {number}: not a JSON record: {text}")
            continue
        if record.get("type") == "header":
            _show_header(record)
            continue
        if titles:  # after the header, before the first record
            print(titles)
            titles = ""
        _show_record(record, columns)


def _show_header(record: dict[str, Any]) -> None:
    print(
        f"# session {_cell(record.get('sessionId'), 80)}  started {_cell(record.get('ts'), 40)}"
        f"  policy {_cell(record.get('policyDigest'), 16)}"
    )
    weakening = record.get("weakening") or []
    for item in weakening if isinstance(weakening, list) else [weakening]:
        print(f"# WARNING: weakened setting: {_cell(item, 200)}")


def _show_record(record: dict[str, Any], columns: tuple[tuple[str, int], ...]) -> None:
    ts = record.get("ts")
    values = {
        "seq": record.get("seq"),
        "time": ts[11:19] if isinstance(ts, str) else ts,
        "call": f"{record.get('server', '-')}/{record.get('tool', '-')}"
        if record.get("type", "call") == "call"
        else f"({record.get('type')})",
        "decision": record.get("decision"),
        "rule": record.get("rule"),
        "escalation": _escalation(record),
        "status": record.get("status"),
        "ms": record.get("durationMs", record.get("duration_ms")),
    }
    print("  ".join(_cell(values[name], width).ljust(width) for name, width in columns).rstrip())
    if "arguments" in record:
        arguments = json.dumps(record["arguments"], ensure_ascii=False, sort_keys=True)
        print(f"        args: {_fit(neutralise(arguments, json_text=True), 300)}")
    if record.get("reason"):
        print(f"        reason: {_cell(record['reason'], 300)}")
