"""Host extraction and domain, e-mail and identifier matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.domains import DomainSet, Host, IdentifierSet, host_of, parse_host


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://Docs.Python.org/3/", Host("docs.python.org", False)),
        ("https://good.com@evil.com/", Host("evil.com", False)),
        ("https://u:p@evil.com:8443/x", Host("evil.com", False)),
        ("http://evil.com./", Host("evil.com", False)),
        ("git@github.com:acme/app.git", Host("github.com", False)),
        ("ssh://git@github.com/acme/app.git", Host("github.com", False)),
        ("github.com", Host("github.com", False)),
        ("http://2130706433/", Host("127.0.0.1", True)),
        ("http://0x7f000001/", Host("127.0.0.1", True)),
        ("http://017700000001/", Host("127.0.0.1", True)),
        ("http://0177.0.0.1/", Host("127.0.0.1", True)),
        ("http://127.1/", Host("127.0.0.1", True)),
        ("http://0x7f.1/", Host("127.0.0.1", True)),
        ("http://[::1]/", Host("::1", True)),
        ("http://[::ffff:127.0.0.1]:80/", Host("::ffff:127.0.0.1", True)),
    ],
)
def test_host_of_reads_what_a_client_would_connect_to(value: str, host: Host) -> None:
    assert host_of(value) == host


@pytest.mark.parametrize(
    "value",
    [
        "origin",
        "upstream",
        "/srv/git/repo.git",
        "file:///srv/repo",
        "https://evil.com\\@good.com/",
        "https://good .com/",
        "https://go\tod.com/",
        "https://%67ood.com/",
        "https://gооgle.com/",  # Cyrillic o
        "https://[::1/",
        "https://good.com:80:90/",
        "http://256.1.1.1/",
        "http://09.1.1.1/",  # 09 is not octal: invalid, not a name
        "",
    ],
)
def test_ambiguous_or_hostless_values_have_no_host(value: str) -> None:
    assert host_of(value) is None


def test_domain_patterns() -> None:
    patterns = DomainSet(["example.com", "*.docs.rs", "10.0.0.1", "[::1]"])
    assert patterns.matches(parse_host("example.com"))
    assert not patterns.matches(parse_host("www.example.com"))
    assert patterns.matches(parse_host("a.b.docs.rs"))
    assert patterns.matches(parse_host("docs.rs"))  # '*.' covers the domain itself (IronCurtain)
    assert not patterns.matches(parse_host("evildocs.rs"))
    assert patterns.matches(host_of("http://10.0.0.1/"))
    assert patterns.matches(host_of("http://012.0.0.1/"))  # the same address, octal
    assert patterns.matches(host_of("http://[0:0::1]/"))
    assert not patterns.matches(None)


def test_star_matches_every_name_but_no_ip_literal() -> None:
    anything = DomainSet(["*"])
    assert anything.matches(parse_host("localhost"))
    for url in ("http://127.0.0.1/", "http://2130706433/", "http://[::1]/", "http://1.1/"):
        assert not anything.matches(host_of(url)), url
    assert not DomainSet(["*.0.1"]).matches(host_of("http://127.0.0.1/"))


def test_identifier_and_email_lists() -> None:
    owners = IdentifierSet(["Acme", "provos"])
    assert owners.matches("acme") and owners.matches("PROVOS")
    assert not owners.matches("acme-evil") and not owners.matches(None) and not owners.matches("")
    emails = IdentifierSet(["boss@corp.com", "*@team.org"], emails=True)
    assert emails.matches("Boss@Corp.com") and emails.matches("a@team.org")
    assert not emails.matches("a@evilteam.org") and not emails.matches("a@x@team.org")


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        ("+49 151 2345 6789", True),  # a granted number written as typed
        ("+49-151-2345-6789", True),
        ("(+49) 151 2345 6789", True),
        ("DE75 5121 0800 1245 1261 99", True),
        ("de75 5121 0800 1245 1261 99", True),  # the same IBAN in lower case
        ("+49 151 2345 6780", False),  # another number
        ("+49 151 2345 6789 or +1 202 555 0100", False),  # two numbers: not one granted
        ("call +49 151 2345 6789", False),  # words beside the number
        ("0049 151 2345 6789", False),  # another way of writing it: not the granted form
        ("mirat", False),  # not a number: no marks are dropped from a name
    ],
)
def test_identifier_sets_read_a_phone_number_or_iban_in_its_granted_form(value, matches):
    granted = IdentifierSet(["+4915123456789", "DE75512108001245126199", "mira-t"], exact=True)
    assert granted.matches(value) is matches


labels = st.sampled_from(["a", "b", "ex", "com", "0x1", "1", "x-y"])
names = st.lists(labels, min_size=1, max_size=4).map(".".join)


def naive(host: str, pattern: str) -> bool:
    """The documented meaning, written the slow way (only for names that are not IPs)."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        suffix = pattern[2:].split(".")
        labels_ = host.split(".")
        return len(labels_) >= len(suffix) and labels_[-len(suffix) :] == suffix
    return host == pattern


@settings(max_examples=300, deadline=None)
@given(host=names, patterns=st.lists(st.one_of(names, names.map("*.".__add__), st.just("*"))))
def test_domain_set_agrees_with_the_naive_reading(host: str, patterns: list[str]) -> None:
    parsed = parse_host(host)
    if parsed is not None and parsed.is_ip:  # an IP literal: only an equal IP pattern
        expected = any(parse_host(p) == parsed for p in patterns)
    else:
        expected = parsed is not None and any(naive(host, p) for p in patterns)
    assert DomainSet(patterns).matches(parsed) == expected
