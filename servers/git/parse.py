"""Parsers for git's machine-readable outputs (porcelain v2 status, log with our own format)."""

from __future__ import annotations

from typing import Any

__all__ = ["LOG_FORMAT", "parse_log", "parse_status"]

# Fields separated by US (0x1f); commits separated by NUL (git log -z). The message goes last and
# is split off with a bounded split, so separators inside it can't shift the other fields.
LOG_FORMAT = "%H%x1f%h%x1f%an%x1f%ae%x1f%at%x1f%P%x1f%D%x1f%B"
_LOG_FIELDS = 8

_STAGED = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "typeChanged",
}


def _empty_changes() -> dict[str, list[str]]:
    return {name: [] for name in _STAGED.values()}


def parse_status(raw: str) -> dict[str, Any]:
    """``git status --porcelain=v2 --branch -z`` as the structured status the tools return."""
    result: dict[str, Any] = {
        "currentBranch": None,
        "commit": None,
        "upstream": None,
        "ahead": 0,
        "behind": 0,
        "stagedChanges": _empty_changes(),
        "unstagedChanges": _empty_changes(),
        "untrackedFiles": [],
        "conflictedFiles": [],
    }
    records = iter(raw.split("\x00"))
    for record in records:
        if record.startswith("# "):
            _branch_line(record[2:], result)
        elif record.startswith(("1 ", "2 ")):
            fields = record.split(" ", 9 if record[0] == "2" else 8)
            path = fields[-1]
            if record[0] == "2":
                path = f"{next(records, '')} -> {path}"
            _change(fields[1], path, result)
        elif record.startswith("u "):
            result["conflictedFiles"].append(record.split(" ", 10)[-1])
        elif record.startswith("? "):
            result["untrackedFiles"].append(record[2:])
    result["isClean"] = not (
        any(result["stagedChanges"].values())
        or any(result["unstagedChanges"].values())
        or result["untrackedFiles"]
        or result["conflictedFiles"]
    )
    return result


def _branch_line(line: str, result: dict[str, Any]) -> None:
    key, _, value = line.partition(" ")
    if key == "branch.head":
        result["currentBranch"] = None if value == "(detached)" else value
    elif key == "branch.oid":
        result["commit"] = None if value == "(initial)" else value
    elif key == "branch.upstream":
        result["upstream"] = value
    elif key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        result["ahead"], result["behind"] = int(ahead.lstrip("+")), int(behind.lstrip("-"))


def _change(xy: str, path: str, result: dict[str, Any]) -> None:
    staged, unstaged = xy[0], xy[1]
    if staged in _STAGED:
        result["stagedChanges"][_STAGED[staged]].append(path)
    if unstaged in _STAGED:
        result["unstagedChanges"][_STAGED[unstaged]].append(path)


def parse_log(raw: str) -> list[dict[str, Any]]:
    """``git log -z --format=LOG_FORMAT`` as a list of commit objects."""
    commits = []
    for record in raw.split("\x00"):
        record = record.lstrip("\n")
        if not record:
            continue
        fields = record.split("\x1f", _LOG_FIELDS - 1)
        if len(fields) < _LOG_FIELDS:
            continue
        full, short, author, email, stamp, parents, refs, message = fields
        subject, _, body = message.strip("\n").partition("\n")
        commit: dict[str, Any] = {
            "hash": full,
            "shortHash": short,
            "author": author,
            "authorEmail": email,
            "timestamp": int(stamp) if stamp.isdigit() else 0,
            "subject": subject,
            "body": body.strip("\n"),
            "parents": parents.split(),
            "refs": [r.strip() for r in refs.split(",") if r.strip()],
        }
        commits.append(commit)
    return commits
