"""Bounded recursive walks for ``directory_tree`` and ``search_files``, and their glob patterns.

Every directory is opened with no-follow relative to its parent's fd, so a symlinked directory
is listed but never entered and a swap during the walk cannot lead outside. A walk has a budget
(entries, depth, wall-clock time): when it runs out the result says so instead of running on,
and a directory that cannot be read is reported as skipped instead of failing the whole call.

Globs: ``*``, ``?`` and ``[...]`` match inside one path segment, a ``**`` segment matches any
number of segments. A pattern with no ``/`` matches an entry's name at any depth (``*.py``,
``node_modules``). Segments are matched with ``fnmatch``'s translation, whose regexes do not
backtrack catastrophically, and ``**`` by a memoised walk over segments: time stays polynomial
for any pattern an agent sends.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from servers.filesystem.resolve import DIR_FLAGS, reason, shown
from servers.wire.cancel import checkpoint
from servers.wire.server import ToolError

__all__ = ["Budget", "Glob", "list_entries", "search", "tree"]

MAX_PATTERN_CHARS = 1024
_SHOWN_SKIPS = 50


class Glob:
    """A compiled glob over relative paths (see the module docstring)."""

    def __init__(self, pattern: str) -> None:
        if not pattern or len(pattern) > MAX_PATTERN_CHARS or "\x00" in pattern:
            raise ToolError(f"invalid glob pattern (empty, NUL or over {MAX_PATTERN_CHARS} chars)")
        parts = [p for p in pattern.strip("/").split("/") if p and p != "."]
        if "/" not in pattern.strip("/"):
            parts = ["**", *parts]
        self.parts = tuple(None if p == "**" else _segment(p) for p in parts)

    def matches(self, rel: tuple[str, ...]) -> bool:
        parts = self.parts

        @cache
        def match(i: int, j: int) -> bool:
            if i == len(parts):
                return j == len(rel)
            if parts[i] is None:
                return match(i + 1, j) or (j < len(rel) and match(i, j + 1))
            return j < len(rel) and parts[i](rel[j]) is not None and match(i + 1, j + 1)

        return match(0, 0)


@lru_cache(maxsize=256)
def _segment(pattern: str) -> Callable[[str], object]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL).match


@dataclass
class Budget:
    """What a walk may still spend, and what it had to skip."""

    max_entries: int
    max_depth: int
    seconds: float
    seen: int = 0
    skipped: list[str] = field(default_factory=list)
    stopped: str | None = None
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def spend(self) -> bool:
        checkpoint()  # a walk the client cancelled ends at its next entry, with no answer
        if self.stopped:
            return False
        self.seen += 1
        if self.seen > self.max_entries:
            self.stopped = f"stopped after the limit of {self.max_entries} entries"
        elif time.monotonic() > self.deadline:
            self.stopped = f"stopped at the time limit of {self.seconds:g} s"
        return self.stopped is None

    def skip(self, rel: tuple[str, ...], why: str) -> None:
        self.skipped.append(f"{shown('/'.join(rel))}: {why}")

    def notes(self) -> list[str]:
        out = [f"Walk incomplete: {self.stopped}."] if self.stopped else []
        if self.skipped:
            more = len(self.skipped) - _SHOWN_SKIPS
            out.append("Skipped: " + "; ".join(self.skipped[:_SHOWN_SKIPS]))
            if more > 0:
                out.append(f"... and {more} more skipped")
        return out


def list_entries(
    fd: int, limit: int, sizes: bool = False
) -> tuple[list[tuple[str, str, int]], bool]:
    """Up to ``limit`` entries of the open directory, sorted, as (name, kind, size); and if cut.

    Sizes (of regular files; 0 otherwise) are taken here, while ``fd`` is still open: a DirEntry
    stats relative to it, and a closed fd number may already name another directory.
    """
    entries = []
    with os.scandir(fd) as it:
        for entry in it:
            if len(entries) >= limit:
                return sorted(entries), True
            kind = _kind(entry)
            entries.append((entry.name, kind, _size(entry) if sizes and kind == "file" else 0))
    return sorted(entries), False


def _size(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def _kind(entry: os.DirEntry) -> str:
    try:
        if entry.is_symlink():
            return "symlink"
        if entry.is_dir(follow_symlinks=False):
            return "directory"
        if entry.is_file(follow_symlinks=False):
            return "file"
    except OSError:
        pass
    return "other"


def _children(fd: int, rel: tuple[str, ...], budget: Budget) -> list[tuple[str, str]] | None:
    try:
        entries, cut = list_entries(fd, budget.max_entries)
    except OSError as exc:
        budget.skip(rel, reason(exc))
        return None
    if cut:
        budget.skip(rel, f"more than {budget.max_entries} entries, listing cut")
    return [(name, kind) for name, kind, _size in entries]


def _enter(fd: int, name: str, rel: tuple[str, ...], budget: Budget) -> int | None:
    if len(rel) > budget.max_depth:
        budget.skip(rel, f"deeper than {budget.max_depth} levels, not entered")
        return None
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        budget.skip(rel, reason(exc))
        return None


def tree(fd: int, excludes: list[Glob], budget: Budget, rel: tuple[str, ...] = ()) -> list[dict]:
    """The JSON-able tree under the open directory ``fd`` (the reference's node shape)."""
    nodes: list[dict] = []
    for name, kind in _children(fd, rel, budget) or []:
        child_rel = (*rel, name)
        if any(g.matches(child_rel) for g in excludes):
            continue
        if not budget.spend():
            break
        node: dict = {"name": shown(name), "type": kind}
        if kind == "directory":
            child = _enter(fd, name, child_rel, budget)
            node["children"] = []
            if child is None:
                node["skipped"] = budget.skipped[-1].rsplit(": ", 1)[-1]
            else:
                try:
                    node["children"] = tree(child, excludes, budget, child_rel)
                finally:
                    os.close(child)
        nodes.append(node)
    return nodes


def search(
    fd: int,
    pattern: Glob,
    excludes: list[Glob],
    budget: Budget,
    found: list[tuple[str, ...]],
    max_results: int,
    rel: tuple[str, ...] = (),
) -> None:
    """Append to ``found`` the relative paths under ``fd`` that match ``pattern``."""
    for name, kind in _children(fd, rel, budget) or []:
        child_rel = (*rel, name)
        if any(g.matches(child_rel) for g in excludes):
            continue
        if not budget.spend():
            return
        if pattern.matches(child_rel):
            if len(found) >= max_results:
                budget.stopped = f"stopped at the limit of {max_results} results"
                return
            found.append(child_rel)
        if kind == "directory":
            child = _enter(fd, name, child_rel, budget)
            if child is not None:
                try:
                    search(child, pattern, excludes, budget, found, max_results, child_rel)
                finally:
                    os.close(child)
