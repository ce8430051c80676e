"""Which addresses http_fetch reaches: the vectors, redirects re-checked, DNS rebinding pinned."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fetch_support import (
    RoutedNetwork,
    SequenceResolver,
    local_site,
    page,
    redirect,
    table_resolver,
)

from servers.fetch.addresses import UrlRefused, address_problem, check_url, system_resolver
from servers.fetch.client import request
from servers.fetch.settings import FetchSettings
from servers.wire.server import ToolError

VECTOR_DIR = Path(__file__).parents[1] / "vectors" / "fetch"
VECTORS = json.loads((VECTOR_DIR / "addresses.json").read_text("utf-8"))["cases"]
REDIRECTS = json.loads((VECTOR_DIR / "redirects.json").read_text("utf-8"))["cases"]
PUBLIC = "93.184.215.14"


def _never_resolve(host: str, port: int, timeout: float) -> list[str]:
    raise AssertionError(f"an IP literal or refused URL must not be resolved ({host})")


@pytest.mark.parametrize("case", VECTORS, ids=[c["description"] for c in VECTORS])
def test_address_vector(case: dict) -> None:
    resolves = case.get("resolves")
    resolver = _never_resolve if resolves is None else SequenceResolver(resolves)
    allow_private = case.get("allow_private", False)
    if case["expect"] == "allow":
        target = check_url(case["url"], resolver, allow_private, 5.0)
        assert target.address == case["address"]
        if "host" in case:
            assert target.host == case["host"] and resolver.asked == [case["host"]]
        assert "#" not in target.url and "@" not in target.url
    else:
        with pytest.raises(UrlRefused) as refused:
            check_url(case["url"], resolver, allow_private, 5.0)
        assert refused.value.code == case["code"], str(refused.value)


def test_vectors_cover_every_literal_form_the_brief_names() -> None:
    urls = " ".join(c["url"] for c in VECTORS)
    for form in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "[::1]"):
        assert form in urls
    for form in ("0.0.0.0", "169.254.169.254", "fd00:ec2::254", "good.com@127.0.0.1"):
        assert form in urls
    for scheme in ("file:", "ftp:", "gopher:", "javascript:"):
        assert any(c["url"].startswith(scheme) for c in VECTORS)


def _spell(value: int, parts: int, styles: list[str]) -> str:
    """``value`` as an inet_aton string of ``parts`` parts, each in its own base."""
    numbers = [(value >> (24 - 8 * i)) & 0xFF for i in range(parts - 1)]
    numbers.append(value & ((1 << (8 * (5 - parts))) - 1))
    render = {"dec": str, "hex": lambda n: hex(n), "oct": lambda n: "0" + format(n, "o")}
    return ".".join(render[style](n) for n, style in zip(numbers, styles, strict=False))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    value=st.one_of(
        st.integers(0x7F000000, 0x7FFFFFFF),  # loopback
        st.integers(0x0A000000, 0x0AFFFFFF),  # 10/8
        st.sampled_from([0xA9FEA9FE, 0, 0xC0A80001, 0x5DB8D70E]),
        st.integers(0, 0xFFFFFFFF),
    ),
    parts=st.integers(1, 4),
    styles=st.lists(st.sampled_from(["dec", "hex", "oct"]), min_size=4, max_size=4),
)
def test_every_ipv4_spelling_means_what_the_c_library_says(value, parts, styles) -> None:
    """Differential: our reading of a literal equals inet_aton's, and is judged by that value."""
    spelled = _spell(value, parts, styles)
    assert socket.inet_aton(spelled) == value.to_bytes(4, "big")
    address = ipaddress.IPv4Address(value)
    for allow_private in (False, True):
        problem = address_problem(address, allow_private)
        if problem is None:
            target = check_url(f"http://{spelled}/", _never_resolve, allow_private, 5.0)
            assert target.address == str(address) and target.host == str(address)
        else:
            with pytest.raises(UrlRefused) as refused:
                check_url(f"http://{spelled}/", _never_resolve, allow_private, 5.0)
            assert refused.value.code == problem[0]


def test_refusal_message_names_the_address_and_what_it_is() -> None:
    with pytest.raises(UrlRefused, match=r"127\.0\.0\.1, a loopback address"):
        check_url("http://0x7f000001/", _never_resolve, False, 5.0)


def test_every_global_unicast_sample_is_allowed_and_specials_are_not() -> None:
    for text in ("8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001:82a::200e"):
        assert address_problem(ipaddress.ip_address(text), False) is None
    for text in (
        "127.0.0.1",
        "10.9.8.7",
        "::1",
        "fe80::2",
        "100.127.255.255",
        "::ffff:192.168.0.1",
    ):
        assert address_problem(ipaddress.ip_address(text), False) is not None
        assert address_problem(ipaddress.ip_address(text), True) is None


def test_redirect_to_private_address_is_not_followed_and_refused_when_asked() -> None:
    """A public site (played by a loopback server) redirects to 127.0.0.1: another host, so the
    redirect comes back unfollowed, and fetching its URL is refused."""
    with local_site({"/": redirect("/hop"), "/hop": redirect("http://127.0.0.1:9/secret")}) as site:
        network = RoutedNetwork(site.port)
        settings = FetchSettings(
            resolver=table_resolver({"public.test": [PUBLIC]}), network=network
        )
        response = request("http://public.test/", settings, timeout=5)
        assert response.redirect_to == "http://127.0.0.1:9/secret"
        with pytest.raises(UrlRefused) as refused:
            request(response.redirect_to, settings, timeout=5)
        assert refused.value.code == "private-address"
        assert site.paths() == ["/", "/hop"]
        assert network.connects == [(PUBLIC, 80), (PUBLIC, 80)]  # nothing ever went to 127.0.0.1:9


def test_same_host_redirect_is_rechecked() -> None:
    """The same name answers public, then loopback for the next hop: that hop is refused."""
    with local_site({"/": redirect("/hop"), "/hop": page(b"<p>private</p>")}) as site:
        network = RoutedNetwork(site.port)
        settings = FetchSettings(
            resolver=SequenceResolver([PUBLIC], ["127.0.0.1"]), network=network
        )
        with pytest.raises(UrlRefused) as refused:
            request("http://public.test/", settings, timeout=5)
        assert refused.value.code == "private-address"
        assert network.connects == [(PUBLIC, 80)]


@pytest.mark.parametrize("case", REDIRECTS, ids=[c["description"] for c in REDIRECTS])
def test_every_redirect_hop_is_rechecked(case: dict) -> None:
    """No hop to these locations connects: one the URL parser refuses fails the call; one to
    another host comes back unfollowed, and fetching it is refused with the vector's code."""
    resolver = table_resolver({"public.test": [PUBLIC], **case.get("resolves", {})})
    with local_site({"/": redirect(case["location"], 301)}) as site:
        network = RoutedNetwork(site.port)
        settings = FetchSettings(resolver=resolver, network=network)
        with pytest.raises(UrlRefused) as refused:
            response = request("http://public.test/", settings, timeout=5)
            assert response.redirect_to is not None
            request(response.redirect_to, settings, timeout=5)
        assert refused.value.code == case["code"], str(refused.value)
        assert network.connects == [(PUBLIC, 80)]  # only the first, checked, hop connected


def test_dns_rebinding_public_then_private_connects_to_the_checked_answer() -> None:
    """The resolver answers public first and private after: the one connection uses the first."""
    rebinder = SequenceResolver([PUBLIC], ["127.0.0.1"])
    with local_site({"/": page(b"<p>public content</p>")}) as site:
        network = RoutedNetwork(site.port)
        settings = FetchSettings(resolver=rebinder, network=network)
        response = request("http://rebind.test/", settings, timeout=5)
    assert response.body == b"<p>public content</p>"
    assert rebinder.asked == ["rebind.test"]  # resolved once, by the checker, never again
    assert network.connects == [(PUBLIC, 80)]


def test_dns_rebinding_end_to_end_on_two_loopback_addresses() -> None:
    """Two real servers, 127.0.0.1 and 127.0.0.2 on one port; the name flips between them."""
    with ExitStack() as stack:
        good = stack.enter_context(local_site({"/": page(b"first answer")}))
        try:
            evil = stack.enter_context(
                local_site({"/": page(b"second answer")}, host="127.0.0.2", port=good.port)
            )
        except OSError:
            pytest.skip("127.0.0.2 is not bindable here")
        rebinder = SequenceResolver(["127.0.0.1"], ["127.0.0.2"])
        settings = FetchSettings(allow_private=True, resolver=rebinder)
        response = request(good.url("/", host="rebind.test"), settings, timeout=5)
        assert response.body == b"first answer"
        assert rebinder.asked == ["rebind.test"]
        assert good.seen[0].headers["Host"] == f"rebind.test:{good.port}"
        assert evil.seen == []


def test_unpinned_connection_is_refused_by_the_backend() -> None:
    import httpcore

    from servers.fetch.pinned import PinnedBackend

    target = check_url("http://public.test/", table_resolver({"public.test": [PUBLIC]}), False, 5)
    backend = PinnedBackend(target, deadline=float("inf"))
    with pytest.raises(httpcore.ConnectError, match="unpinned"):
        backend.connect_tcp("other.test", 80)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_unix_socket("/var/run/docker.sock")


def test_system_resolver_answers_localhost_and_fails_cleanly() -> None:
    assert "127.0.0.1" in system_resolver("localhost", 80, 5.0) or "::1" in system_resolver(
        "localhost", 80, 5.0
    )
    with pytest.raises(UrlRefused) as refused:
        check_url("http://no-such-host.invalid/", system_resolver, False, 5.0)
    assert refused.value.code == "unresolvable-host"


def test_refusal_is_a_tool_error_for_the_agent() -> None:
    assert issubclass(UrlRefused, ToolError)


def test_a_hanging_lookup_is_abandoned_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(3) or [])
    started = time.monotonic()
    with pytest.raises(UrlRefused) as refused:
        check_url("http://slow-dns.test/", system_resolver, False, 0.3)
    assert refused.value.code == "unresolvable-host"
    assert time.monotonic() - started < 1.5


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"]),
        max_size=60,
    )
)
def test_arbitrary_input_is_refused_cleanly_or_pinned_to_a_public_address(tail: str) -> None:
    """No input makes the checker crash, or pass an address the block list would refuse."""
    for url in (tail, f"http://{tail}", f"https://{tail}/x", f"http://[{tail}]/"):
        try:
            target = check_url(url, lambda h, p, t: [PUBLIC], False, 1.0)
        except UrlRefused:
            continue
        assert address_problem(ipaddress.ip_address(target.address), False) is None
        assert urlsplit(target.url).hostname == target.host.strip("[]")
        assert target.scheme in ("http", "https") and "@" not in urlsplit(target.url).netloc
