"""``ironcurtain audit show|verify|export-key``: read, check and hand over a session's audit log.

SESSION is a session id (its log is ``sessions/<id>/audit.jsonl`` under the IronCurtain home),
a session folder, or the path of a log file. Everything shown comes from the log, whose text
the agent partly chose, so every string is passed through ``neutralise`` before it reaches the
terminal. ``verify`` says its finding in words and as its exit code:

    0 intact and closed     1 edited (names the record)     2 no log
    3 cut (no signed end, session not running)     4 intact but open (session running)
    5 unproven (format 1, no signing key, or signed by a key not trusted here)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.chokepoint.audit import Status, VerifyResult, verify_file
from appliance.chokepoint.audit.signing import (
    SigningKeyError,
    load_public_keys,
    public_pem,
)
from appliance.chokepoint.escalation.display import neutralise

EXIT_OK, EXIT_BROKEN, EXIT_MISSING, EXIT_CUT, EXIT_OPEN, EXIT_UNPROVEN = 0, 1, 2, 3, 4, 5
EXIT_FOR = {
    Status.CLOSED: EXIT_OK,
    Status.EDITED: EXIT_BROKEN,
    Status.EMPTY: EXIT_BROKEN,
    Status.CUT: EXIT_CUT,
    Status.OPEN: EXIT_OPEN,
    Status.UNPROVEN: EXIT_UNPROVEN,
}
_LABEL = {
    Status.CLOSED: "INTACT, CLOSED",
    Status.EDITED: "EDITED",
    Status.EMPTY: "EDITED",
    Status.CUT: "CUT",
    Status.OPEN: "INTACT, OPEN",
    Status.UNPROVEN: "UNPROVEN",
}


def configure(parser: argparse.ArgumentParser) -> None:
    from appliance.cli.audit_show import configure_show

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    configure_show(actions.add_parser("show", help="print the log as a readable table"))
    verify = actions.add_parser(
        "verify",
        help="check seals, chain and signed checkpoints (exit 0 closed, 1 edited, 2 no log, "
        "3 cut, 4 open, 5 unproven)",
    )
    verify.add_argument("target", metavar="SESSION|FILE")
    verify.add_argument(
        "--key",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a trusted public key (PEM, from `audit export-key`); repeatable. Default: this "
        "installation's key",
    )
    actions.add_parser("export-key", help="print this installation's public audit key (PEM)")


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
    if args.action == "export-key":
        return _export_key()
    path = resolve_log(args.target)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        print(f"no audit log at {path}", file=sys.stderr)
        return EXIT_MISSING
    except OSError as exc:
        print(f"cannot read audit log {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_MISSING
    try:
        keys = trusted_keys(args.key)
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_MISSING
    if args.action == "verify":
        return report(check(path, keys))
    from appliance.cli.audit_show import show

    show(data, args)
    if not args.json:
        report(check(path, keys))
    return EXIT_OK


def trusted_keys(files: list[Path]) -> dict[str, Ed25519PublicKey]:
    """The keys given with ``--key``; else this installation's (never created by reading)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for file in files:
        keys.update(load_public_keys(file))
    if not files:
        from appliance.config.paths import app_paths

        own = app_paths().audit_key
        if own.exists():
            keys.update(load_public_keys(own))
    return keys


def check(path: Path, keys: dict[str, Ed25519PublicKey]) -> VerifyResult:
    from appliance.chokepoint.escalation.registry import live_sessions
    from appliance.config.paths import app_paths

    registry = app_paths().registry

    def running(session_id: str) -> bool:
        return any(entry.session_id == session_id for entry in live_sessions(registry))

    return verify_file(path, keys, running)


def report(result: VerifyResult) -> int:
    """Say the finding in words (neutralised: the log's text is the agent's) and exit by it."""
    label = _LABEL[result.status]
    what = {
        Status.CLOSED: f"{result.entries} records; every record sealed and chained, the end "
        f"record covered by a checkpoint signed with a trusted key "
        f"({result.checkpoints} checkpoints)",
        Status.OPEN: "the session is still running; the records so far are sealed and chained",
    }.get(result.status, result.problem or "unknown problem")
    print(f"{label}: {neutralise(what)}")
    print(f"format {result.version}, session {neutralise(result.session_id or '?')}")
    for note in result.notes:
        print(f"note: {neutralise(note)}")
    if result.status in (Status.EDITED, Status.EMPTY):
        print(f"records before line {result.first_bad_line} verify: {result.entries}")
    return EXIT_FOR[result.status]


def _export_key() -> int:
    from appliance.config.paths import app_paths

    path = app_paths().audit_key
    if not path.exists():
        print(f"no audit signing key at {path} yet: the first session makes it", file=sys.stderr)
        return EXIT_MISSING
    try:
        (key_id, public), *_ = load_public_keys(path).items()
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_MISSING
    print(f"# IronCurtain audit signing key {key_id}")
    print(public_pem(public), end="")
    return EXIT_OK
