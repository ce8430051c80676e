"""What a human approval covers: one exact call, or "the same kind of call" for the session;
and what the approver is shown of the call before answering (``targets``).

An approval is bound to the digest of (server, tool, canonical arguments) and to the policy's
digest, so an answer can never be replayed onto a different call or a changed policy. A
"similar" approval becomes a session whitelist entry scoped to exactly what escalated: the
directory that holds an escalated path (its direct entries only, never its subtree nor a parent),
the one repository of an escalated history role, the host of an escalated URL, the exact value of
any other role. A later call matches only if it is the same server and tool and every value of
every escalated role falls inside its entry. The approver is shown the entry's description
(``WhitelistEntry.describe``) before answering.

Everything here reads the engine's facts (``Decision.facts``): a path as the engine resolved it,
a URL's host as ``policy.domains`` read it. Nothing is resolved or parsed again, so an entry
covers what the engine judged, with the one URL parser the domain rules use.
"""

from __future__ import annotations

import posixpath
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from policy.api import CallFacts, RoleFact

__all__ = ["ApprovalWhitelist", "CircuitBreaker", "WhitelistEntry", "scope_for", "targets"]

# A history role's value is a repository: "similar" means that repository, never its neighbours.
_REPOSITORY_ROLES = frozenset({"write-history", "delete-history"})


def _scope_value(fact: RoleFact) -> tuple[str, str] | None:
    """(kind, scope) of the narrowest entry covering this value; None: it cannot be scoped (an
    unknown value, a path the engine did not resolve, a URL with no clear host)."""
    if fact.value is None:
        return None
    if fact.kind == "path":
        if fact.real is None:
            return None
        if fact.role in _REPOSITORY_ROLES:
            return ("repository", fact.real)
        return ("dir", posixpath.dirname(fact.real))
    if fact.kind == "url":
        return ("host", fact.host) if fact.host else None
    return ("exact", fact.value)


def _covers(kind: str, scope: str, fact: RoleFact) -> bool:
    if kind == "dir":  # one folder: its direct entries, never its subtree
        if fact.kind != "path" or fact.real is None:
            return False
        parts = fact.real.split("/")
        base = [""] if scope == "/" else scope.split("/")
        return len(parts) == len(base) + 1 and parts[:-1] == base
    if kind == "repository":
        return fact.kind == "path" and fact.real == scope
    if kind == "host":
        return fact.kind == "url" and fact.host == scope
    return fact.value is not None and fact.value == scope


@dataclass(frozen=True)
class WhitelistEntry:
    server: str
    tool: str
    scopes: tuple[tuple[str, str, str], ...]  # (role, kind, scope)

    def describe(self) -> str:
        parts = [f"{role} {_KIND_WORDS[kind]} {scope}" for role, kind, scope in self.scopes]
        return f"{self.server}.{self.tool} where " + "; ".join(parts)


_KIND_WORDS = {
    "dir": "directly in folder",
    "repository": "in repository",
    "host": "on host",
    "exact": "exactly",
}


def scope_for(
    server: str, tool: str, facts: CallFacts, escalated_roles: tuple[str, ...]
) -> WhitelistEntry | None:
    """The narrowest entry covering this call's escalated values, or None if none can be made."""
    scopes: set[tuple[str, str, str]] = set()
    for role in escalated_roles:
        for fact in facts.of(role):
            scoped = _scope_value(fact)
            if scoped is None:
                return None
            scopes.add((role, *scoped))
    if not scopes:
        return None  # nothing to scope by: only the exact call may be approved
    return WhitelistEntry(server, tool, tuple(sorted(scopes)))


def targets(facts: CallFacts) -> dict[str, list[str]]:
    """Every value of every role of the call (declared roles included), as the engine judged
    it: what an approver must see before any free text. A path shows where it resolves first,
    then what the agent wrote when that differs; free text is cut (the arguments hold it all)."""
    shown: dict[str, list[str]] = {}
    for fact in sorted(facts.values, key=lambda fact: fact.role):
        text = _target_text(fact)
        values = shown.setdefault(fact.role, [])
        if text not in values:
            values.append(text)
    return shown


def _target_text(fact: RoleFact) -> str:
    if fact.value is None:
        return "(not given: unknown)"
    if fact.kind == "path" and fact.real is not None and fact.real != fact.value:
        return f"{fact.real} (as written: {fact.value})"
    if fact.kind in ("text", "opaque") and len(fact.value) > _TEXT_LIMIT:
        return fact.value[:_TEXT_LIMIT] + f"... ({len(fact.value) - _TEXT_LIMIT} more characters)"
    return fact.value


_TEXT_LIMIT = 500


class ApprovalWhitelist:
    def __init__(self) -> None:
        self._entries: list[WhitelistEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: WhitelistEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[WhitelistEntry]:
        with self._lock:
            return list(self._entries)

    def match(
        self, server: str, tool: str, facts: CallFacts, escalated_roles: tuple[str, ...]
    ) -> WhitelistEntry | None:
        if not escalated_roles:
            return None
        for entry in self.entries():
            same_tool = entry.server == server and entry.tool == tool
            if same_tool and _entry_covers(entry, facts, escalated_roles):
                return entry
        return None


def _entry_covers(
    entry: WhitelistEntry, facts: CallFacts, escalated_roles: tuple[str, ...]
) -> bool:
    for role in escalated_roles:
        values = facts.of(role)
        if not values:
            return False
        scopes = [(kind, scope) for r, kind, scope in entry.scopes if r == role]
        for fact in values:
            if not any(_covers(kind, scope, fact) for kind, scope in scopes):
                return False
    return True


class CircuitBreaker:
    """Refuses the same call repeated more than ``limit`` times within ``window_s`` seconds."""

    def __init__(self, clock: Callable[[], float], limit: int = 20, window_s: float = 60.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, digest: str) -> bool:
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(digest, deque())
            while times and now - times[0] > self._window:
                times.popleft()
            if len(times) >= self._limit:
                return False
            times.append(now)
            return True
