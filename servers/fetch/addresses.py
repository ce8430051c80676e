"""Which URLs ``http_fetch`` may reach, decided before any byte leaves the machine.

A URL is checked in three steps: its shape (http/https, no userinfo, a host that is either a
DNS name or an IP literal), the host's addresses (an IP literal is read the way the C library
would read it, so ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all
127.0.0.1; a name is resolved once, by us), and every address against the block list. The
caller then connects to the address returned here and nowhere else: resolving again later is
what DNS rebinding exploits.

Every refusal is a :class:`UrlRefused` carrying a stable ``code`` (the test vectors assert on
it) and a sentence the agent can act on.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from servers.wire.cancel import checkpoint, on_cancel
from servers.wire.server import ToolError

__all__ = [
    "Resolver",
    "Target",
    "UrlRefused",
    "address_problem",
    "check_url",
    "host_of_url",
    "normalise_url",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port, timeout seconds) -> addresses as strings, in the resolver's order
Resolver = Callable[[str, int, float], list[str]]

# Cloud metadata services. Refused even with the test flag: nothing legitimate fetches them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "168.63.129.16", "100.100.100.200", "192.0.0.192")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")  # used with fullmatch, as below
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_NAME_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class UrlRefused(ToolError):
    """The URL may not be fetched; ``code`` says which rule refused it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address the connection must go to."""

    url: str  # normalised: ASCII host, no fragment
    scheme: str
    host: str  # ASCII (IDNA) name or the canonical IP literal, for Host and TLS SNI
    port: int
    address: str  # the pinned IP

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def check_url(url: str, resolver: Resolver, allow_private: bool, timeout: float) -> Target:
    """Check ``url`` and return where to connect, or raise :class:`UrlRefused`."""
    scheme, host, port, normalised = _parse(url)
    literal = _ip_literal(host)
    if literal is not None:
        host = literal.compressed
        addresses = [literal]
        normalised = _with_host(normalised, scheme, host, port)
    else:
        addresses = _resolve(resolver, host, port, timeout)
    for address in addresses:  # one bad answer refuses the lot: no "first public, then private"
        problem = address_problem(address, allow_private)
        if problem:
            shown = url if len(url) <= 200 else url[:200] + "..."
            raise UrlRefused(
                problem[0],
                f"refused {shown}: it reaches {address}, {problem[1]}; http_fetch only "
                "reaches public internet addresses",
            )
    return Target(normalised, scheme, host, port, str(addresses[0]))


def host_of_url(url: str) -> str:
    """The host ``check_url`` would give ``url`` (IP literals canonical), without resolving it,
    or raise :class:`UrlRefused`."""
    return normalise_url(url)[0]


def normalise_url(url: str) -> tuple[str, str]:
    """(host, URL) as ``check_url`` would give them, without resolving: the URL with an ASCII
    host, non-ASCII and control bytes of the path percent-encoded, no fragment."""
    scheme, host, port, normalised = _parse(url)
    literal = _ip_literal(host)
    if literal is None:
        return host, normalised
    return literal.compressed, _with_host(normalised, scheme, literal.compressed, port)


def address_problem(address: IPAddress, allow_private: bool) -> tuple[str, str] | None:
    """(code, description) if ``address`` may not be contacted, else None."""
    if address in METADATA_ADDRESSES:
        return ("metadata-address", "a cloud metadata address")
    if address.is_unspecified:
        return ("unspecified-address", "the unspecified address")
    if address.is_multicast:
        return ("multicast-address", "a multicast address")
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = address_problem(embedded, allow_private)
        if inner:
            return (inner[0], f"which embeds {embedded}, {inner[1]}")
    if allow_private:
        return None
    return _local_kind(address)


def _local_kind(address: IPAddress) -> tuple[str, str] | None:
    if address.is_loopback:
        return ("private-address", "a loopback address")
    if address.is_link_local:
        return ("private-address", "a link-local address")
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        # fec0::/10: deprecated, but Python counts it global and internal networks still use it
        return ("private-address", "a site-local address")
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return ("private-address", "a carrier-grade NAT address")
    if address.is_private:
        return ("private-address", "a private-network address")
    if address.is_reserved or not address.is_global:
        return ("private-address", "a reserved or non-global address")
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64) or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # NAT64, IPv4-compatible
    return None


def _parse(url: str) -> tuple[str, str, int, str]:
    if any(ord(c) < 0x21 or c == "\\" for c in url):
        raise UrlRefused("bad-url", "the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("bad-url", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("scheme-not-allowed", f"only http and https URLs, not {scheme or 'none'}:")
    if "@" in parts.netloc:
        raise UrlRefused("userinfo-not-allowed", "URLs with user:password@ are not fetched")
    if port == 0:
        raise UrlRefused("bad-url", "port 0 is not a port")
    host = _ascii_host(parts.hostname or "")
    port = port or (443 if scheme == "https" else 80)
    # Non-ASCII in the path or query is percent-encoded; existing escapes are kept as they are.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_PATH_SAFE + "?")
    clean = parts._replace(path=path, query=query, fragment="").geturl()
    return scheme, host, port, _with_host(clean, scheme, host, port)


def _ascii_host(host: str) -> str:
    if not host:
        raise UrlRefused("bad-host", "the URL has no host")
    if ":" in host:  # an IPv6 literal; zone ids (%eth0) make no sense off this machine
        if "%" in host:
            raise UrlRefused("bad-host", "IPv6 zone ids (%...) are not fetched")
        return host
    ascii_host = _idna(host).lower().removesuffix(".")
    labels = ascii_host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return ascii_host  # an IPv4 literal in some form: _ip_literal decides
    if len(ascii_host) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused("bad-host", f"the host {host!r} is not a valid name")
    return ascii_host


def _idna(host: str) -> str:
    """The ASCII form a browser would look up (UTS 46, non-transitional: faß.de is not fass.de),
    so the host fetched is the host the URL names on the web, and 127。0。0。1 is 127.0.0.1."""
    if host.isascii():
        return host
    try:
        import idna  # with httpx; Python's own codec is IDNA 2003, which maps names differently
    except ImportError:
        idna = None
    try:
        if idna is None:
            return host.encode("idna").decode("ascii")
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise UrlRefused("bad-host", f"the host {host!r} is not a valid name") from None


def _ip_literal(host: str) -> IPAddress | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused("bad-host", f"{host!r} is not a valid IPv6 address") from None
    labels = host.split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    # Read it as inet_aton does (what getaddrinfo and browsers do), so no spelling slips past.
    if len(labels) > 4 or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused("bad-host", f"{host!r} is neither a name nor an IPv4 address")
    try:
        values = [_number(label) for label in labels]
    except ValueError:
        raise UrlRefused("bad-host", f"{host!r} is not a valid IPv4 address") from None
    value, room = 0, 32
    for part in values[:-1]:
        if part > 255:
            raise UrlRefused("bad-host", f"{host!r} is not a valid IPv4 address")
        value, room = value | part << (room - 8), room - 8
    if values[-1] >= 1 << room:
        raise UrlRefused("bad-host", f"{host!r} is not a valid IPv4 address")
    return ipaddress.IPv4Address(value | values[-1])


def _number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def _with_host(url: str, scheme: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    netloc = shown if port == default else f"{shown}:{port}"
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def _resolve(resolver: Resolver, host: str, port: int, timeout: float) -> list[IPAddress]:
    try:
        answers = resolver(host, port, timeout)
    except (OSError, TimeoutError):
        raise UrlRefused("unresolvable-host", f"could not resolve {host}") from None
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    except ValueError:
        raise UrlRefused("unresolvable-host", f"{host} resolved to something unusable") from None
    if not addresses:
        raise UrlRefused("unresolvable-host", f"{host} has no addresses")
    return addresses


def system_resolver(host: str, port: int, timeout: float) -> list[str]:
    """getaddrinfo, bounded in time.

    A lookup can't be cancelled, so it runs in a daemon thread we stop waiting for: a hung
    resolver then costs a thread, never the call's time cap, its cancellation or the server's
    exit.
    """
    outcome: list[object] = []
    done = threading.Event()
    worker = threading.Thread(
        target=_lookup, args=(host, port, outcome, done), name="fetch-dns", daemon=True
    )
    worker.start()
    with on_cancel(done.set):
        done.wait(max(timeout, 0.01))
    checkpoint()
    if not outcome:
        raise TimeoutError(f"resolving {host} took longer than {timeout:.1f} s")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in outcome[0]:  # type: ignore[union-attr]
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def _lookup(host: str, port: int, outcome: list[object], done: threading.Event) -> None:
    try:
        outcome.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
    except OSError as exc:
        outcome.append(exc)
    finally:
        done.set()
