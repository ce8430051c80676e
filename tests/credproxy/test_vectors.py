"""The request vectors, twice: against the pure checks and through the live proxy (real TLS)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from credproxy_fakes import REAL_KEYS, raw_request
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.credproxy.checks import (
    Denial,
    RequestFacts,
    check_destination,
    check_key,
    check_route,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "credproxy" / "requests.json").read_text()
)["cases"]
ALL = ("anthropic", "openai", "google")
FAKES = {  # fixed fakes for the pure run; the live run uses the proxy's own
    "anthropic": "sk-ant-api03-" + "f" * 93 + "AA",
    "openai": "sk-proj-" + "f" * 156,
    "google": "AIza" + "f" * 35,
}


def fill(text: str, fakes: dict[str, str]) -> str:
    for name in ALL:
        text = text.replace(f"$FAKE:{name}", fakes[name]).replace(f"$REAL:{name}", REAL_KEYS[name])
    return text


def ids(case: dict) -> str:
    return case["description"]


def pure_decision(case: dict) -> str | None:
    """The rule the pure checks give, in the proxy's order (gate, then key)."""
    target = case["connect"] or _absolute_target(case["request"])
    host, _, port = target.rpartition(":")
    verdict = check_destination(host, int(port), ALL)
    if isinstance(verdict, Denial):
        return verdict.rule
    method, target_path, _ = fill(case["request"], FAKES).split(" ")
    if case["connect"] is None:
        target_path = "/" + target_path.split("/", 3)[3]
    path, _, query = target_path.partition("?")
    headers = tuple((k.lower(), fill(v, FAKES)) for k, v in case["headers"])
    facts = RequestFacts(
        method=method,
        scheme="https" if case["connect"] and case.get("tls", True) else "http",
        host=host,
        port=int(port),
        path=path,
        host_header=next((v for k, v in headers if k == "host"), None),
        sni=case.get("sni", host) if case["connect"] and case.get("tls", True) else None,
        headers=headers,
        query=tuple(parse_qsl(query)),
    )
    denial = check_route(verdict, facts) or check_key(verdict, facts, FAKES[verdict.name])
    return denial.rule if denial else None


def _absolute_target(request_line: str) -> str:
    authority = request_line.split(" ")[1].split("/")[2]
    return authority if ":" in authority else authority + ":80"


@pytest.mark.parametrize("case", VECTORS, ids=ids)
def test_pure_checks(case: dict) -> None:
    assert pure_decision(case) == case["expect"]["rule"]


def test_live_vectors(running, upstream) -> None:
    """Every vector through mitmproxy: the status, the deciding rule, and what upstream saw."""
    fakes = running.proxy.fake_keys
    failures = []
    for case in VECTORS:
        before_seen, before_events = len(upstream.seen), len(running.events)
        head = b""
        if case["request"] is not None:
            lines = [fill(case["request"], fakes)] + [
                f"{k}: {fill(v, fakes)}" for k, v in case["headers"]
            ]
            head = ("\r\n".join(lines) + "\r\n").encode()
        answer = raw_request(
            running.endpoints.tcp_port,
            running.endpoints.ca_cert_pem_path,
            case["connect"],
            head,
            sni=case.get("sni"),
            tls=case.get("tls", True),
        )
        events = running.events[before_events:]
        rules = [e.rule for e in events if e.kind == "denied"]
        forwarded = len(upstream.seen) > before_seen
        got = (answer.status, rules[0] if rules else None, forwarded)
        want = (case["expect"]["status"], case["expect"]["rule"], case["expect"]["forwarded"])
        if got != want:
            failures.append(f"{case['description']}: got {got}, want {want}")
        for seen in upstream.seen[before_seen:]:
            for value in (v for values in seen.headers.values() for v in values):
                assert not any(fake in value for fake in fakes.values()), case["description"]
            assert not any(fake in seen.path for fake in fakes.values()), case["description"]
    assert not failures, "\n".join(failures)


HEADER_NAMES = st.sampled_from(
    ["x-api-key", "authorization", "x-goog-api-key", "cookie", "x-other", "anthropic-version"]
)
FAKE_A = FAKES["anthropic"]
VALUES = st.one_of(
    st.just(FAKE_A),
    st.just("Bearer " + FAKE_A),
    st.just(FAKE_A + " "),
    st.just(FAKE_A[:-1]),
    st.just(FAKE_A.upper()),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=5))
def test_key_check_admits_exactly_one_exact_fake(headers: list[tuple[str, str]]) -> None:
    """Whatever headers arrive, the key check passes only for one credential that is the fake."""
    from appliance.credproxy.providers import PROVIDERS

    provider = PROVIDERS["anthropic"]
    facts = RequestFacts(
        "POST", "https", provider.host, 443, "/v1/messages", headers=tuple(headers)
    )
    credentials = [(k, v) for k, v in headers if k in provider.key_headers]
    exact = credentials in ([("x-api-key", FAKE_A)], [("authorization", "Bearer " + FAKE_A)])
    assert (check_key(provider, facts, FAKE_A) is None) == exact
