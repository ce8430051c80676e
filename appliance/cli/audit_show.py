"""``ironcurtain audit show``: the log as a table or JSON lines, filtered, with a summary line.

Filters select call records (``--decision``, ``--tool``, ``--since``); the header, checkpoints
and the end record are shown in the table whatever the filter. A call that went ahead has an
``intent`` record before its server was called and its call record after; the table shows the
call record only, and an intent with none (the host died while the server worked) as a call
whose outcome is unknown. The summary counts the whole session: calls, denials, escalations and
who answered them, and the calls whose outcome is unknown. Every string passes through
``neutralise``: the agent chose part of this text.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.chokepoint.escalation.display import neutralise

__all__ = ["configure_show", "matches", "show", "summary"]

_COLUMNS = (("seq", 5), ("time", 8), ("call", 30), ("decision", 8), ("rule", 22))
_TAIL = (("escalation", 20), ("status", 7), ("ms", 7))
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def configure_show(show: argparse.ArgumentParser) -> None:
    show.add_argument("target", metavar="SESSION|FILE")
    show.add_argument("--json", action="store_true", help="print the records as JSON lines")
    show.add_argument(
        "--key", action="append", type=Path, default=[], metavar="FILE",
        help="a trusted public key for the verdict (as for verify); repeatable",
    )  # fmt: skip
    show.add_argument("--decision", choices=("allow", "deny", "escalate"), help="only these calls")
    show.add_argument("--tool", help="only calls of this tool (TOOL, SERVER/TOOL or SERVER__TOOL)")
    show.add_argument(
        "--since", type=since_time, help="only calls from this time on (ISO 8601, or 30m, 2h, 1d)"
    )


def since_time(text: str) -> datetime:
    """ISO 8601 (naive means UTC) or a duration back from now: ``90s``, ``30m``, ``2h``, ``1d``."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = relative.groups()
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected an ISO time (2026-01-02T03:04) or 30m, 2h, 1d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _record_time(record: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(record.get("ts")).replace("Z", "+00:00"))
    except ValueError:
        return None


def matches(record: dict[str, Any], args: argparse.Namespace) -> bool:
    """Does a call record pass the ``--decision``, ``--tool`` and ``--since`` filters?"""
    if args.decision and record.get("decision") != args.decision:
        return False
    if args.tool:
        server, tool = str(record.get("server")), str(record.get("tool"))
        if args.tool not in (tool, f"{server}/{tool}", f"{server}__{tool}"):
            return False
    if args.since:
        when = _record_time(record)
        if when is None or when < args.since:
            return False
    return True


def _filtering(args: argparse.Namespace) -> bool:
    return bool(args.decision or args.tool or args.since)


def _json_wanted(
    record: dict[str, Any] | None, args: argparse.Namespace, dangling: set[int]
) -> bool:
    """Unfiltered: every line. Filtered: only the calls that match (a call record, or an
    intent that has none)."""
    if not _filtering(args):
        return True
    return record is not None and _is_call(record, dangling) and matches(record, args)


def _is_call(record: dict[str, Any], dangling: set[int]) -> bool:
    kind = record.get("type", "call")
    return kind == "call" or (kind == "intent" and record.get("seq") in dangling)


def dangling_intents(records: list[dict[str, Any]]) -> set[int]:
    """The seqs of intent records no call record names: sent, outcome unknown."""
    intents = {r.get("seq") for r in records if r.get("type") == "intent"}
    return intents - {r.get("intent") for r in records if r.get("type", "call") == "call"}


def _parse(data: bytes) -> list[tuple[int, bytes, dict[str, Any] | None]]:
    out = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        out.append((number, raw, record if isinstance(record, dict) else None))
    return out


def show(data: bytes, args: argparse.Namespace) -> None:
    parsed = _parse(data)
    dangling = dangling_intents([r for _, _, r in parsed if r is not None])
    if args.json:
        for _, raw, record in parsed:
            if _json_wanted(record, args, dangling):
                print(neutralise(raw.decode("utf-8", errors="replace"), json_text=True))
        return
    _table(parsed, args, dangling)
    print(summary([r for _, _, r in parsed if r is not None]))


def summary(records: list[dict[str, Any]]) -> str:
    """One line for the session: calls, denials, escalations and who answered them."""
    session = next((r.get("sessionId") for r in records if r.get("type") == "header"), "?")
    dangling = dangling_intents(records)
    calls = [r for r in records if _is_call(r, dangling) and "decision" in r]
    denied = sum(r.get("decision") == "deny" or r.get("status") == "denied" for r in calls)
    escalations = [r["escalation"] for r in calls if isinstance(r.get("escalation"), dict)]
    answers = Counter(f"{e.get('outcome', '?')} by {e.get('by', '?')}" for e in escalations)
    answered = ", ".join(f"{n} {what}" for what, n in sorted(answers.items())) or "none"
    text = (
        f"session {session}: {len(calls)} calls, {denied} denied, {len(escalations)} "
        f"escalations ({answered})"
    )
    if dangling:
        text += f", {len(dangling)} sent with outcome unknown (no result recorded)"
    return "# " + neutralise(text)


def _table(
    parsed: list[tuple[int, bytes, dict[str, Any] | None]],
    args: argparse.Namespace,
    dangling: set[int],
) -> None:
    columns = (*_COLUMNS, *_TAIL)
    titles = "  ".join(name.ljust(width) for name, width in columns).rstrip()
    for number, raw, record in parsed:
        if record is None:
            text = neutralise(raw[:200].decode("utf-8", errors="replace"))
            print(f"line {number}: not a JSON record: {text}")
            continue
        kind = record.get("type", "call")
        if kind == "header":
            _show_header(record)
            continue
        if kind == "intent" and record.get("seq") not in dangling:
            continue  # its call record follows and is the row
        if _is_call(record, dangling) and not matches(record, args):
            continue
        if titles:  # after the header, before the first record
            print(titles)
            titles = ""
        _show_record(record, columns)


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


def _show_header(record: dict[str, Any]) -> None:
    print(
        f"# session {_cell(record.get('sessionId'), 80)}  started {_cell(record.get('ts'), 40)}"
        f"  policy {_cell(record.get('policyDigest'), 16)}  format {_cell(record.get('v'), 4)}"
    )
    weakening = record.get("weakening") or []
    for item in weakening if isinstance(weakening, list) else [weakening]:
        print(f"# WARNING: weakened setting: {_cell(item, 200)}")


def _show_record(record: dict[str, Any], columns: tuple[tuple[str, int], ...]) -> None:
    ts = record.get("ts")
    kind = record.get("type", "call")
    unknown = kind == "intent"  # shown only when no call record completes it
    values = {
        "seq": record.get("seq"),
        "time": ts[11:19] if isinstance(ts, str) else ts,
        "call": f"{record.get('server', '-')}/{record.get('tool', '-')}"
        if kind in ("call", "intent")
        else f"({kind})",
        "decision": record.get("decision"),
        "rule": record.get("rule"),
        "escalation": _escalation(record),
        "status": "unknown" if unknown else record.get("status"),
        "ms": record.get("durationMs", record.get("duration_ms")),
    }
    if kind == "checkpoint":
        head = record.get("head") if isinstance(record.get("head"), dict) else {}
        values["rule"] = f"signs 0..{head.get('seq', '?')}"
    if kind == "outcome-unknown":
        values["call"] = f"(unknown) {record.get('server', '-')}/{record.get('tool', '-')}"
        values["rule"] = f"intent {record.get('intent', '?')}"
    print("  ".join(_cell(values[name], width).ljust(width) for name, width in columns).rstrip())
    if "arguments" in record:
        arguments = json.dumps(record["arguments"], ensure_ascii=False, sort_keys=True)
        print(f"        args: {_fit(neutralise(arguments, json_text=True), 300)}")
    if record.get("reason"):
        print(f"        reason: {_cell(record['reason'], 300)}")
    if unknown:
        print("        outcome unknown: sent to its server, no result recorded (the host stopped)")
    if kind == "outcome-unknown":
        print("        reported on resume: the call above may have had its effect; not run again")
