"""``ironcurtain sessions``: list sessions, and ``sessions clean --older-than 30d``.

Read-only over each ``sessions/<id>/``: ``session.json`` ({id, started, task, state, pid}) and
the audit log (one JSON object per line; the first is the header). A session recorded as running
whose process is gone is shown as ``crashed``. Cleaning never removes a session whose process is
alive, never follows a symlink out of the sessions folder, and says what it removed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.config.paths import app_paths
from appliance.host.processes import pid_alive
from appliance.session.state_file import read_state

# States a session records when it ends; each can be resumed (`start --resume ID`).
ENDED = frozenset({"finished", "interrupted", "terminated", "stopped"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


@dataclass(frozen=True)
class SessionSummary:
    id: str
    folder: str
    started: str
    task: str
    state: str
    calls: int
    denials: int
    escalations: int
    pid: int | None
    age_seconds: float


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.add_argument(
        "--ids", action="store_true", help="print only the ids, newest first (shell completion)"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    clean = sub.add_parser("clean", help="remove old sessions (never a running one)")
    clean.add_argument(
        "--older-than",
        required=True,
        type=parse_age,
        metavar="AGE",
        help="e.g. 30d, 12h, 2w (units s, m, h, d, w)",
    )
    clean.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    clean.add_argument("--json", action="store_true", help="print what was removed as JSON")


def run(args: argparse.Namespace) -> int:
    folder = app_paths().sessions
    if args.action == "clean":
        return _clean(folder, args.older_than, dry_run=args.dry_run, as_json=args.json)
    if args.ids:
        for session in reversed(list_sessions(folder)):
            print(session.id)
        return 0
    return _list(folder, as_json=args.json)


def parse_age(text: str) -> float:
    """``30d`` -> seconds. argparse shows the ValueError's message."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30d, 12h, 90m or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def list_sessions(folder: Path, now: float | None = None) -> list[SessionSummary]:
    """Every session folder under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    found = [
        _summarise(entry, now)
        for entry in folder.iterdir()
        if entry.is_dir() and not entry.is_symlink()
    ]
    return sorted(found, key=lambda s: (-s.age_seconds, s.id))


def _summarise(folder: Path, now: float) -> SessionSummary:
    meta = read_state(folder)
    pid = meta.get("pid") if isinstance(meta.get("pid"), int) else None
    state = str(meta.get("state") or "unknown")
    if state == "running" and not pid_alive(pid):
        state = "crashed"
    if state == "stopped" and meta.get("reason"):
        state = f"stopped:{meta['reason']}"  # budget or model: what stopped it
    started_at = _timestamp(meta.get("started")) or folder.stat().st_mtime
    calls, denials, escalations = _count_audit(folder / "audit.jsonl")
    return SessionSummary(
        id=str(meta.get("id") or folder.name),
        folder=folder.name,
        started=datetime.fromtimestamp(started_at).astimezone().isoformat(timespec="seconds"),
        task=str(meta.get("task") or ""),
        state=state,
        calls=calls,
        denials=denials,
        escalations=escalations,
        pid=pid,
        age_seconds=max(0.0, now - started_at),
    )


def _timestamp(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _count_audit(file: Path) -> tuple[int, int, int]:
    """Calls, denials and escalations; an escalation later denied counts as both."""
    calls = denials = escalations = 0
    try:
        handle = file.open(encoding="utf-8", errors="replace")
    except OSError:
        return 0, 0, 0
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line of a crashed session
            if not isinstance(entry, dict) or entry.get("type", "call") != "call":
                continue  # the header, an intent, or something else that is not a decision
            if "decision" not in entry:
                continue
            calls += 1
            denials += entry["decision"] == "deny" or entry.get("status") == "denied"
            escalations += entry["decision"] == "escalate" or bool(entry.get("escalation"))
    return calls, denials, escalations


def _list(folder: Path, *, as_json: bool) -> int:
    sessions = list_sessions(folder)
    if as_json:
        print(json.dumps([asdict(s) for s in sessions], indent=2))
        return 0
    if not sessions:
        print(f"no sessions in {folder}")
        return 0
    header = ("ID", "STARTED", "STATE", "CALLS", "DENIED", "ESCALATED", "TASK")
    rows = [
        (s.id, s.started, s.state, str(s.calls), str(s.denials), str(s.escalations), s.task)
        for s in sessions
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, _one_line(row[6])]).rstrip())
    if any(s.state.partition(":")[0] in ENDED | {"crashed"} for s in sessions):
        print("\ncontinue one with: ironcurtain start --resume ID")
    return 0


def _one_line(task: str, width: int = 60) -> str:
    text = " ".join(task.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _clean(folder: Path, older_than: float, *, dry_run: bool, as_json: bool) -> int:
    removed, kept_running, failed = [], [], []
    for session in list_sessions(folder):
        if session.age_seconds < older_than:
            continue
        # "crashed" with a live pid is a session still writing its end: leave it too.
        ended = session.state.partition(":")[0] in ENDED
        if pid_alive(session.pid) and not ended:
            kept_running.append(session.id)
            continue
        target = folder / session.folder
        try:
            if not dry_run:
                shutil.rmtree(target)
            removed.append(session.folder)
        except OSError as exc:
            failed.append(f"{session.id}: {exc.strerror or exc}")
    _report_clean(folder, removed, kept_running, failed, dry_run=dry_run, as_json=as_json)
    return 1 if failed else 0


def _report_clean(
    folder: Path,
    removed: list[str],
    running: list[str],
    failed: list[str],
    *,
    dry_run: bool,
    as_json: bool,
) -> None:
    if as_json:
        document = {"removed": removed, "keptRunning": running, "failed": failed, "dryRun": dry_run}
        print(json.dumps(document, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for session_id in removed:
        print(f"{verb} {folder / session_id}")
    for session_id in running:
        print(f"kept {session_id}: it is still running")
    for problem in failed:
        print(f"could not remove {problem}", file=sys.stderr)
    if not removed:
        print("nothing to remove")
