"""Hosts out of URLs, and domain, e-mail and identifier matching.

The parser is deliberately narrower than a browser's: anything a browser and Python's
``urllib`` could read differently (backslashes, whitespace or control characters anywhere;
non-ASCII characters or percent-escapes in the host) yields no host at all, and a value
with no host matches no domain pattern, not even ``*``. The host is the part after the
*last* ``@`` of the authority, so ``https://good.com@evil.com/`` is ``evil.com``.
IP literals, including the integer forms a URL parser accepts (``2130706433``,
``0x7f.1``, ``0177.0.0.1``), match only an equal IP literal in a pattern, never ``*``
or ``*.example.com``. A scheme-less value with a path (``docs.python.org/3/``) has the host a
browser would give it (``http://`` assumed).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from policy.role_specs import extract_numbers

__all__ = ["DomainSet", "Host", "IdentifierSet", "host_of", "parse_host", "repo_key"]

_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")  # a browser strips or re-reads these; we refuse
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\%]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# Schemes that name a network host our servers would contact; file://, ftp:// and the rest have
# no host here, so no domain rule can allow them.
_NETWORK_SCHEMES = frozenset({"http", "https", "ssh", "git", "git+ssh", "ssh+git"})
_SCP = re.compile(r"(?:[^@/:]+@)?([^@/:]+):")  # git's scp-like form: user@host:owner/repo.git
_LABELS = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")
_AUTHORITY_END = re.compile(r"[/?#]")


class Host(NamedTuple):
    name: str  # lower-case DNS name, or the canonical text of an IP address
    is_ip: bool


def host_of(value: str) -> Host | None:
    """The host a URL (or git remote, or bare host name) points at; None when unclear."""
    if _CONTROL.search(value):
        return None
    scheme = _SCHEME.match(value)
    if scheme:
        if scheme.group(1).lower() not in _NETWORK_SCHEMES:
            return None
        authority = _AUTHORITY_END.split(value[scheme.end() :], maxsplit=1)[0]
        return _authority_host(authority.rpartition("@")[2])
    scp = _SCP.match(value)
    if scp and not value.startswith("/"):
        return parse_host(scp.group(1))
    authority = _AUTHORITY_END.split(value, maxsplit=1)[0]
    if authority != value and "." in authority and not value.startswith((".", "/")):
        # `docs.python.org/3/`: a browser reads a scheme-less URL with a path as http://...
        return _authority_host(authority.rpartition("@")[2])
    if "/" in value or ":" in value or "@" in value:
        return None
    return parse_host(value) if "." in value else None  # 'origin' is a remote name, not a host


def _authority_host(hostport: str) -> Host | None:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or not _port_ok(hostport[end + 1 :]):
            return None
        return _ipv6(hostport[1:end])
    host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        return None
    return parse_host(host)


def _port_ok(rest: str) -> bool:
    return rest == "" or (rest.startswith(":") and rest[1:].isdigit())


def parse_host(text: str) -> Host | None:
    """A host name or IP literal as written in a URL or a pattern; None if it is neither."""
    if not text.isascii() or _UNSAFE.search(text):
        return None
    host = text.lower()
    if host.endswith("."):
        host = host[:-1]
    if host.startswith("[") and host.endswith("]"):
        return _ipv6(host[1:-1])
    if not host or not _LABELS.fullmatch(host):
        return _ipv6(host) if ":" in host else None
    last = host.rsplit(".", 1)[-1]
    if _NUMBER.fullmatch(last):
        return _ipv4(host)
    return Host(host, False)


def _ipv6(text: str) -> Host | None:
    try:
        return Host(str(ipaddress.IPv6Address(text)), True)
    except ValueError:
        return None


def _ipv4(host: str) -> Host | None:
    """WHATWG IPv4 parsing: 1-4 parts, each decimal, 0x-hex or 0-octal; None if invalid."""
    numbers = []
    for part in host.split("."):
        if not _NUMBER.fullmatch(part):
            return None
        if part[:2] in ("0x", "0X"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                return None
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]):
        return None
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return Host(str(ipaddress.IPv4Address(value)), True)


class DomainSet:
    """Patterns ``*``, ``*.example.com``, exact hosts and exact IP literals; O(labels) a match."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.any = False
        self._exact: set[str] = set()
        self._suffixes: set[str] = set()
        self._ips: set[str] = set()
        # 'github.com/owner/repo': one repository, matched only by git remotes (repo_key)
        self.repos: frozenset[str] = frozenset()
        repos = set()
        for raw in patterns:
            pattern = raw.strip()
            if "/" in pattern and not pattern.startswith("*"):
                key = _repo_pattern(pattern)
                if key is not None:
                    repos.add(key)
                continue
            self._add(pattern.lower())
        self.repos = frozenset(repos)

    def _add(self, pattern: str) -> None:
        if pattern == "*":
            self.any = True
        elif pattern.startswith("*."):
            host = parse_host(pattern[2:])
            if host is not None and not host.is_ip:
                # IronCurtain's semantics: '*.github.com' covers github.com itself too
                self._suffixes.add("." + host.name)
                self._exact.add(host.name)
        else:
            host = parse_host(pattern)
            if host is not None:
                (self._ips if host.is_ip else self._exact).add(host.name)

    def matches(self, host: Host | None) -> bool:
        if host is None:
            return False
        if host.is_ip:
            return host.name in self._ips
        if self.any or host.name in self._exact:
            return True
        name = host.name
        dot = name.find(".")
        while dot >= 0:
            if name[dot:] in self._suffixes:
                return True
            dot = name.find(".", dot + 1)
        return False


def repo_key(value: str | None) -> str | None:
    """``host/owner/repo`` of a git remote URL (``https://github.com/o/r.git``, ``git@github.com:
    o/r``), the form IronCurtain matches repository-level domain patterns against; None when the
    value has no host or no repository path."""
    if value is None:
        return None
    host = host_of(value)
    if host is None or host.is_ip:
        return None
    scheme = _SCHEME.match(value)
    if scheme:
        rest = value[scheme.end() :]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else ""
    elif _SCP.match(value):
        path = value[_SCP.match(value).end() :]  # type: ignore[union-attr]
    else:
        return None
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    repo = _repo_path(path)
    return f"{host.name}/{repo}" if repo else None


def _repo_path(path: str) -> str:
    """``owner/repo`` of a URL path as a URL parser (and git's HTTP client) reads it: ``.`` and
    ``..`` segments resolved, slashes and a ``.git`` suffix trimmed. A percent-encoded dot
    segment gives no repository ("" matches nothing): clients differ on decoding it."""
    kept: list[str] = []
    for segment in path.split("/"):
        if "%2e" in segment.lower() and not segment.lower().replace("%2e", "").strip("."):
            return ""
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    path = "/".join(kept).strip("/")
    return path.removesuffix(".git").rstrip("/")


def _repo_pattern(pattern: str) -> str | None:
    host_text, _, path = pattern.partition("/")
    host = parse_host(host_text)
    if host is None or host.is_ip:
        return None
    repo = _repo_path(path)
    return f"{host.name}/{repo}" if repo else None


class IdentifierSet:
    """Exact, case-insensitive identifiers (GitHub owners and repos are case-insensitive, so a
    deny list must not be dodged by case). For e-mail lists, ``*@example.com`` matches a domain.
    With ``exact`` (a list's ``"match": "exact"``) nothing is trimmed or folded."""

    def __init__(self, patterns: Iterable[str], emails: bool = False, exact: bool = False) -> None:
        self.any = False
        self._exact: set[str] = set()
        self._domains: list[str] = []
        self._fold = (lambda text: text) if exact else (lambda text: text.strip().casefold())
        for pattern in patterns:
            folded = self._fold(pattern)
            if folded == "*":
                self.any = True
            elif emails and folded.startswith("*@"):
                self._domains.append(folded[1:])
            else:
                self._exact.add(folded)

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        folded = self._fold(value)
        if not folded:
            return False
        if self.any or folded in self._exact:
            return True
        if any(folded.endswith(domain) and folded.count("@") == 1 for domain in self._domains):
            return True
        number = _one_number(value)
        return number is not None and self._fold(number) in self._exact


# The marks a phone number or an IBAN is written with between its digits.
_NUMBER_MARKS = re.compile(r"[\s\-./()·–]+")


def _one_number(value: str) -> str | None:
    """The canonical form of a value that is one phone number or IBAN written with spaces or
    marks ("+49 151 2345 6789", "DE75 5121 0800 1245 1261 99") and nothing else: a grant holds
    a typed number in that form (``policy.task_grants``), so the call may write it as typed."""
    if len(value) > 64 or sum(c.isdigit() for c in value) < 7:  # a phone number has 7, an IBAN more
        return None
    phones, ibans = extract_numbers(value)
    found = phones + ibans
    if len(found) != 1:
        return None
    compact = _NUMBER_MARKS.sub("", value.strip())
    return found[0] if compact.casefold() == found[0].casefold() else None
