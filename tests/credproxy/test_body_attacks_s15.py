"""Request bodies that would make a provider contact another host (vectors/credproxy/bodies.json):
the pure check, then the live proxy (real TLS) with what the upstream saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_packages

from appliance.credproxy.providers import PROVIDERS

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "credproxy" / "bodies.json").read_text()
)["cases"]
gated, registry = test_packages.gated, test_packages.registry  # the package gate's fixtures
HOSTS = {name: provider.host for name, provider in PROVIDERS.items()}


def raw(case: dict) -> bytes:
    body = case["body"]
    return (body if isinstance(body, str) else json.dumps(body)).encode()


@pytest.mark.parametrize("case", VECTORS, ids=lambda case: case["description"])
def test_body_check(case: dict) -> None:
    from appliance.credproxy.checks import check_body

    denial = check_body(PROVIDERS[case["provider"]], raw(case))
    assert (denial.rule if denial else None) == case["rule"]


def test_live_bodies(running, upstream) -> None:
    fakes = running.proxy.fake_keys
    credential = {
        "anthropic": {"x-api-key": fakes["anthropic"]},
        "openai": {"authorization": f"Bearer {fakes['openai']}"},
        "google": {"x-goog-api-key": fakes["google"]},
    }
    failures = []
    with running.client() as client:
        for case in VECTORS:
            before, events = len(upstream.seen), len(running.events)
            answer = client.post(
                f"https://{HOSTS[case['provider']]}{case['path']}",
                headers={**credential[case["provider"]], "content-type": "application/json"},
                content=raw(case),
            )
            rules = [e.rule for e in running.events[events:] if e.kind == "denied"]
            got = (answer.status_code, rules[0] if rules else None, len(upstream.seen) > before)
            want = (200, None, True) if case["rule"] is None else (403, case["rule"], False)
            if got != want:
                failures.append(f"{case['description']}: got {got}, want {want}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("target", "refused"),
    [
        ("https://evil.example/left-pad", True),
        ("https://registry.npmjs.org:8443/left-pad", True),
        ("https://REGISTRY.npmjs.org./left-pad", False),
    ],
)
def test_a_registry_request_target_naming_another_host_is_refused(
    gated, registry, target, refused
) -> None:
    """Inside the registry's tunnel, an absolute-form target for another host: the registry's
    CDN must read the target's host, not Host, so it was a way to any site that CDN serves."""
    from credproxy_fakes import raw_request

    head = f"GET {target} HTTP/1.1\r\nhost: registry.npmjs.org\r\n".encode()
    answer = raw_request(
        gated.endpoints.tcp_port,
        gated.endpoints.ca_cert_pem_path,
        "registry.npmjs.org:443",
        head,
        b"",
    )
    if refused:
        assert (answer.status, registry.seen) == (403, [])
    else:  # the same host in another spelling passes, in origin form
        assert answer.status == 200
        assert [path for _, path, _ in registry.seen] == ["/left-pad"]
