"""What a human approval covers: one exact call, or "the same kind of call" for the session.

An approval is bound to the digest of (server, tool, canonical arguments) and to the policy's
digest, so an answer can never be replayed onto a different call or a changed policy. A
"similar" approval becomes a session whitelist entry scoped to exactly what escalated: the
directory that holds an escalated path (its direct entries only, never its subtree nor a parent),
the host of an escalated URL, the exact value of any other role. A later call matches only if it
is the same server and tool and every value of every escalated role falls inside its entry. The
approver is shown the entry's description (``WhitelistEntry.describe``) before answering.
"""

from __future__ import annotations

import functools
import posixpath
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ApprovalWhitelist", "CircuitBreaker", "WhitelistEntry", "scope_for"]

PATH_ROLES = frozenset({"read-path", "write-path", "delete-path"})
URL_ROLES = frozenset({"fetch-url", "git-remote-url"})


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def _scope_value(role: str, value: str, resolve: Callable[[str], str]) -> tuple[str, str] | None:
    if role in PATH_ROLES:
        return ("dir", posixpath.dirname(resolve(value)))
    if role in URL_ROLES:
        host = _host(value)
        return ("host", host) if host else None
    return ("exact", value)


def _covers(kind: str, scope: str, value: str, real: Callable[[], str]) -> bool:
    """Does ``scope`` cover ``value``? ``real()`` gives the value's resolved path (asked only
    for a directory scope)."""
    if kind == "dir":  # one folder: its direct entries, never its subtree
        parts = real().split("/")
        base = [""] if scope == "/" else scope.split("/")
        return len(parts) == len(base) + 1 and parts[:-1] == base
    if kind == "host":
        return _host(value) == scope
    return value == scope


@dataclass(frozen=True)
class WhitelistEntry:
    server: str
    tool: str
    scopes: tuple[tuple[str, str, str], ...]  # (role, kind, scope)

    def describe(self) -> str:
        parts = [f"{role} {_KIND_WORDS[kind]} {scope}" for role, kind, scope in self.scopes]
        return f"{self.server}.{self.tool} where " + "; ".join(parts)


_KIND_WORDS = {"dir": "directly in folder", "host": "on host", "exact": "exactly"}


def scope_for(
    server: str,
    tool: str,
    roles: Mapping[str, tuple[str, ...]],
    escalated_roles: tuple[str, ...],
    resolve: Callable[[str], str],
) -> WhitelistEntry | None:
    """The narrowest entry covering this call's escalated values, or None if none can be made."""
    scopes: set[tuple[str, str, str]] = set()
    for role in escalated_roles:
        for value in roles.get(role, ()):
            scoped = _scope_value(role, value, resolve)
            if scoped is None:
                return None
            scopes.add((role, *scoped))
    if not scopes:
        return None  # nothing to scope by: only the exact call may be approved
    return WhitelistEntry(server, tool, tuple(sorted(scopes)))


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
        self,
        server: str,
        tool: str,
        roles: Mapping[str, tuple[str, ...]],
        escalated_roles: tuple[str, ...],
        resolve: Callable[[str], str],
    ) -> WhitelistEntry | None:
        if not escalated_roles:
            return None
        for entry in self.entries():
            same_tool = entry.server == server and entry.tool == tool
            if same_tool and self._entry_covers(entry, roles, escalated_roles, resolve):
                return entry
        return None

    @staticmethod
    def _entry_covers(entry, roles, escalated_roles, resolve) -> bool:
        for role in escalated_roles:
            values = roles.get(role, ())
            if not values:
                return False
            scopes = [(kind, scope) for r, kind, scope in entry.scopes if r == role]
            for value in values:
                real = functools.cache(lambda value=value: resolve(value))  # one lookup a value
                if not any(_covers(kind, scope, value, real) for kind, scope in scopes):
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
