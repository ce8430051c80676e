"""The package gate through the real proxy, against scripted npm and PyPI registries over real TLS
on loopback: allowed, denied, quarantined (taken out of the listing and refused as a download),
unlisted under defaultAction deny, routes refused, every exchange reported and none charged."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from credproxy_fakes import REGISTRIES, serve_tls
from proxy_harness import start_proxy

from appliance.credproxy.config import PackageSettings
from appliance.credproxy.packages import PackageRequest, parse_request

NOW = datetime.now(UTC)
OLD = (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")
NEW = (NOW - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
HASH = "0" * 60
VECTORS = json.loads(
    (
        Path(__file__).resolve().parents[1] / "vectors" / "credproxy" / "package_requests.json"
    ).read_text()
)


def _npm_document(name: str) -> dict:
    versions = {"1.0.0": OLD, "1.3.0": OLD, "2.0.0": NEW, "2.1.0-beta.1": NEW}
    return {
        "name": name,
        "dist-tags": {"latest": "2.0.0", "next": "2.1.0-beta.1"},
        "versions": {v: {"name": name, "version": v} for v in versions},
        "time": {"created": OLD, "modified": NEW, **versions},
    }


def _pypi_page(name: str) -> dict:
    files = [
        ("requests-2.31.0-py3-none-any.whl", OLD),
        ("requests-2.31.0.tar.gz", OLD),
        ("requests-2.99.0-py3-none-any.whl", NEW),
    ]
    return {
        "meta": {"api-version": "1.1"},
        "name": name,
        "versions": ["2.31.0", "2.99.0"],
        "files": [
            {"filename": f, "url": f"https://files.pythonhosted.org/packages/aa/bb/{HASH}/{f}",
             "hashes": {}, "upload-time": when}
            for f, when in files
        ],
    }  # fmt: skip


class Registry:
    """npm and PyPI as their clients see them; each request recorded (path, headers)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host = self.headers.get("host", "").split(":")[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append((host, self.path, headers))
                accept = headers.get("accept", "")
                if host == "deb.debian.org" and self.path.endswith(".deb"):
                    return self._send(200, b"!<arch>\ndebian-binary", "application/octet-stream")
                if host == "deb.debian.org":
                    return self._send(200, b"Origin: Debian\nSuite: stable\n", "text/plain")
                if host == "registry.npmjs.org" and "/-/" in self.path:
                    return self._send(200, b"TARBALL", "application/octet-stream")
                if host == "registry.npmjs.org":
                    name = self.path[1:].replace("%2f", "/").replace("%2F", "/")
                    document = _npm_document(name)
                    if "vnd.npm.install-v1" in accept:  # the abbreviated document: no times
                        document.pop("time")
                    return self._send(200, json.dumps(document).encode(), "application/json")
                if host == "pypi.org":
                    if "vnd.pypi.simple.v1+json" not in accept:
                        return self._send(200, b"<html>no times here</html>", "text/html")
                    page = json.dumps(_pypi_page("requests")).encode()
                    return self._send(200, page, "application/vnd.pypi.simple.v1+json")
                return self._send(200, b"WHEEL", "application/octet-stream")

            def _send(self, status: int, body: bytes, media: str) -> None:
                self.send_response(status)
                self.send_header("content-type", media)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = serve_tls(Handler, cert, key)
        self.port = self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(pki):
    served = Registry(pki[1], pki[2])
    yield served
    served.close()


def _proxy(upstream, registry, pki, ca_dir, **packages):
    overrides = {h: ("127.0.0.1", registry.port) for h in REGISTRIES}
    overrides["api.anthropic.com"] = ("127.0.0.1", upstream.port)
    return start_proxy(
        upstream, pki, ca_dir, upstream_overrides=overrides,
        packages=PackageSettings(**packages),
    )  # fmt: skip


@pytest.fixture
def gated(upstream, registry, pki, ca_dir):
    running = _proxy(upstream, registry, pki, ca_dir, denied_packages=("event-stream",))
    yield running
    running.proxy.stop()


def get(running, url, **headers):
    with running.client() as client:
        return client.get(url, headers=headers)


def test_an_npm_listing_loses_its_too_new_versions_and_latest_follows(gated, registry):
    response = get(
        gated, "https://registry.npmjs.org/left-pad",
        accept="application/vnd.npm.install-v1+json", authorization="Bearer npm_token",
    )  # fmt: skip
    assert response.status_code == 200
    document = response.json()
    assert sorted(document["versions"]) == ["1.0.0", "1.3.0"]
    assert document["dist-tags"] == {"latest": "1.3.0"}
    ((host, path, headers),) = registry.seen
    assert (host, path) == ("registry.npmjs.org", "/left-pad")
    assert headers["accept"] == "application/json"  # the full document, with times
    assert "authorization" not in headers
    kinds = gated.kinds()
    assert kinds == ["package"] and "2 too new taken out" in gated.events[0].reason


def test_npm_downloads_pass_when_old_and_are_refused_when_new_or_unseen(gated, registry):
    unseen = get(gated, "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz")
    assert unseen.status_code == 403 and "not seen in a listing" in unseen.text
    get(gated, "https://registry.npmjs.org/left-pad")
    old = get(gated, "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz")
    new = get(gated, "https://registry.npmjs.org/left-pad/-/left-pad-2.0.0.tgz")
    assert old.status_code == 200 and old.content == b"TARBALL"
    assert new.status_code == 403 and "quarantine" in new.text
    tarballs = [p for _, p, _ in registry.seen if "/-/" in p]
    assert tarballs == ["/left-pad/-/left-pad-1.3.0.tgz"]  # the refused ones never left


def test_a_scoped_npm_package_as_npm_writes_it(gated, registry):
    response = get(gated, "https://registry.npmjs.org/@types%2fnode")
    assert response.status_code == 200 and response.json()["name"] == "@types/node"
    tarball = get(gated, "https://registry.npmjs.org/@types/node/-/node-1.0.0.tgz")
    assert tarball.status_code == 200


def test_a_denied_package_never_reaches_the_registry(gated, registry):
    for url in (
        "https://registry.npmjs.org/event-stream",
        "https://registry.npmjs.org/Event-Stream",
        "https://registry.npmjs.org/event-stream/-/event-stream-3.3.6.tgz",
    ):
        response = get(gated, url)
        assert response.status_code == 403 and "deniedPackages" in response.text, url
    assert registry.seen == []
    assert {e.rule for e in gated.events} == {"package-denied"}


def test_pypi_listing_is_asked_as_json_and_loses_its_too_new_files(gated, registry):
    listing = get(gated, "https://pypi.org/simple/Requests/", accept="text/html")
    assert listing.status_code == 200
    page = listing.json()
    assert [f["filename"] for f in page["files"]] == [
        "requests-2.31.0-py3-none-any.whl", "requests-2.31.0.tar.gz",
    ]  # fmt: skip
    assert page["versions"] == ["2.31.0"]
    files = "https://files.pythonhosted.org/packages/aa/bb/" + HASH + "/"
    assert get(gated, files + "requests-2.31.0-py3-none-any.whl").status_code == 200
    assert get(gated, files + "requests-2.31.0-py3-none-any.whl.metadata").status_code == 200
    new = get(gated, files + "requests-2.99.0-py3-none-any.whl")
    assert new.status_code == 403 and "quarantine" in new.text


def test_default_deny_lets_the_allowed_list_through_without_the_age_gate(
    upstream, registry, pki, ca_dir
):
    running = _proxy(
        upstream, registry, pki, ca_dir, default_action="deny", allowed_packages=("@types/*",)
    )
    try:
        unlisted = get(running, "https://registry.npmjs.org/left-pad")
        listed = get(running, "https://registry.npmjs.org/@types%2fnode")
        new = get(running, "https://registry.npmjs.org/@types/node/-/node-2.0.0.tgz")
    finally:
        running.proxy.stop()
    assert unlisted.status_code == 403 and "defaultAction is deny" in unlisted.text
    assert listed.status_code == 200 and "2.0.0" in listed.json()["versions"]  # no age gate
    assert new.status_code == 200


def test_anything_but_reading_a_package_is_refused(gated, registry):
    with gated.client() as client:
        audit = client.post("https://registry.npmjs.org/-/npm/v1/security/audits/quick", json={})
        publish = client.put("https://registry.npmjs.org/left-pad", json={})
    assert audit.status_code == 403 and publish.status_code == 403
    for url in (
        "https://registry.npmjs.org/-/v1/search",
        "https://registry.npmjs.org/left-pad?write=true",
        "https://registry.npmjs.org/%2e%2e/etc",
        "https://pypi.org/pypi/requests/json",
        "https://pypi.org/simple/",
        "https://files.pythonhosted.org/packages/aa/bb/" + HASH + "/evil.sh",
    ):
        assert get(gated, url).status_code == 403, url
    assert registry.seen == []


def test_without_the_package_gate_no_registry_is_reachable(upstream, registry, pki, ca_dir):
    overrides = {h: ("127.0.0.1", registry.port) for h in REGISTRIES}
    running = start_proxy(upstream, pki, ca_dir, upstream_overrides=overrides)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the tunnel itself is refused (403)
            get(running, "https://registry.npmjs.org/left-pad")
    finally:
        running.proxy.stop()
    assert registry.seen == []


def test_the_model_api_is_unchanged_beside_the_package_gate(gated, upstream):
    with gated.client() as client:
        response = client.post(
            "https://api.anthropic.com/v1/messages",
            headers={"x-api-key": gated.proxy.fake_keys["anthropic"]}, json={"model": "m"},
        )  # fmt: skip
    assert response.status_code == 200
    assert gated.kinds() == ["forwarded", "usage"]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['host']}{c['path']}"[:80])
def test_registry_requests_are_understood_or_refused(case):
    parsed = parse_request(case["host"], case.get("method", "GET"), case["path"])
    if "refused" in case:
        assert isinstance(parsed, str) and case["refused"] in parsed, parsed
    else:
        assert isinstance(parsed, PackageRequest), parsed
        assert [parsed.registry, parsed.package, parsed.kind, parsed.version] == case["is"]


@pytest.mark.parametrize(
    ("connect", "sni", "host_header", "path"),
    [
        # a registry tunnel carrying a model request: the provider's key swap must never run
        ("registry.npmjs.org:443", None, "api.anthropic.com", "/v1/messages"),
        # a provider tunnel carrying a registry request: no package passes outside its tunnel
        ("api.anthropic.com:443", None, "registry.npmjs.org", "/left-pad"),
        # the TLS name of one, the tunnel of the other
        ("registry.npmjs.org:443", "api.anthropic.com", "registry.npmjs.org", "/left-pad"),
        ("api.anthropic.com:443", "registry.npmjs.org", "api.anthropic.com", "/v1/messages"),
        # a registry tunnel on another port
        ("registry.npmjs.org:8443", None, "registry.npmjs.org", "/left-pad"),
    ],
)
def test_a_request_smuggled_between_a_registry_and_a_provider_is_refused(
    gated, registry, upstream, connect, sni, host_header, path
):
    from credproxy_fakes import raw_request

    fake = gated.proxy.fake_keys["anthropic"]
    head = (
        f"GET {path} HTTP/1.1\r\nhost: {host_header}\r\nx-api-key: {fake}\r\n".encode()
        if "registry" in host_header
        else f"POST {path} HTTP/1.1\r\nhost: {host_header}\r\nx-api-key: {fake}\r\n".encode()
    )
    answer = raw_request(
        gated.endpoints.tcp_port, gated.endpoints.ca_cert_pem_path, connect, head, sni=sni
    )
    assert answer.status == 403, (answer.status, answer.stage)
    assert registry.seen == [] and upstream.seen == []


@pytest.mark.parametrize("control", [b"\x1b", b"\x7f", b"\x0b", b"\r"])
def test_a_registry_request_with_a_control_character_in_a_header_is_refused(
    gated, registry, control
):
    """The provider routes' rule (every control character but TAB), for package requests too."""
    from credproxy_fakes import raw_request

    head = b"GET /left-pad HTTP/1.1\r\nhost: registry.npmjs.org\r\nx-note: a" + control + b"b\r\n"
    answer = raw_request(
        gated.endpoints.tcp_port, gated.endpoints.ca_cert_pem_path, "registry.npmjs.org:443", head
    )
    assert answer.status in (400, 403), answer.status
    assert registry.seen == []


class Asker:
    """The user, as the package gate asks them: scripted answers, each question recorded. A
    question waits `delay` seconds (a human reading it) before the answer."""

    def __init__(self, answers: dict[str, bool], delay: float = 0.0) -> None:
        self.answers, self.delay = answers, delay
        self.asked: list[str] = []

    async def __call__(self, request: PackageRequest) -> tuple[bool, str]:
        import asyncio

        self.asked.append(f"{request.registry}:{request.package}")
        await asyncio.sleep(self.delay)
        if request.package not in self.answers:
            raise RuntimeError("the channel broke")
        return self.answers[request.package], "scripted"


def _escalating(upstream, registry, pki, ca_dir, asker):
    running = _proxy(
        upstream, registry, pki, ca_dir, default_action="escalate",
        allowed_packages=("@types/*",), denied_packages=("event-stream",),
    )  # fmt: skip
    running.proxy.package_asker = asker
    return running


def test_an_unlisted_package_is_asked_about_once_and_the_answer_holds(
    upstream, registry, pki, ca_dir
):
    asker = Asker({"left-pad": True, "is-odd": False})
    running = _escalating(upstream, registry, pki, ca_dir, asker)
    try:
        approved = get(running, "https://registry.npmjs.org/left-pad")
        tarball = get(running, "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz")
        too_new = get(running, "https://registry.npmjs.org/left-pad/-/left-pad-2.0.0.tgz")
        refused = get(running, "https://registry.npmjs.org/is-odd")
        again = get(running, "https://registry.npmjs.org/is-odd/-/is-odd-1.0.0.tgz")
        listed = get(running, "https://registry.npmjs.org/@types%2fnode")
        denied = get(running, "https://registry.npmjs.org/event-stream")
    finally:
        running.proxy.stop()
    assert asker.asked == ["npm:left-pad", "npm:is-odd"]  # the lists are never asked about
    assert approved.status_code == 200 and sorted(approved.json()["versions"]) == [
        "1.0.0",
        "1.3.0",
    ]  # fmt: skip - approved, still under the age gate
    assert tarball.status_code == 200 and too_new.status_code == 403
    assert (
        refused.status_code == 403 and "is-odd was refused this session (scripted)" in refused.text
    )
    assert again.status_code == 403 and "refused this session" in again.text
    assert listed.status_code == 200 and denied.status_code == 403
    paths = [p for _, p, _ in registry.seen]
    assert "/is-odd" not in paths and not any("is-odd" in p for p in paths)
    rules = [e.rule for e in running.events]
    assert rules.count("package-refused") == 2


def test_parallel_requests_for_one_package_share_one_question(upstream, registry, pki, ca_dir):
    asker = Asker({"left-pad": True}, delay=0.5)
    running = _escalating(upstream, registry, pki, ca_dir, asker)
    results: list[int] = []

    def fetch() -> None:
        results.append(get(running, "https://registry.npmjs.org/left-pad").status_code)

    try:
        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        running.proxy.stop()
    assert results == [200] * 4
    assert asker.asked == ["npm:left-pad"]


def test_no_one_to_ask_or_a_broken_channel_refuses(upstream, registry, pki, ca_dir):
    running = _escalating(upstream, registry, pki, ca_dir, None)
    broken = Asker({})
    try:
        nobody = get(running, "https://registry.npmjs.org/left-pad")
        running.proxy.package_asker = broken
        failed = get(running, "https://pypi.org/simple/requests/")
    finally:
        running.proxy.stop()
    assert nobody.status_code == 403 and "no one can be asked" in nobody.text
    assert failed.status_code == 403 and "asking failed: RuntimeError" in failed.text
    assert registry.seen == []


def test_too_many_open_questions_are_refused_at_once_and_not_remembered(
    upstream, registry, pki, ca_dir
):
    from appliance.credproxy.addons.packages import MAX_OPEN_QUESTIONS

    names = [f"pkg-{i}" for i in range(MAX_OPEN_QUESTIONS + 4)]
    asker = Asker(dict.fromkeys(names, True), delay=1.5)
    running = _escalating(upstream, registry, pki, ca_dir, asker)
    results: dict[str, int] = {}

    def fetch(name: str) -> None:
        results[name] = get(running, f"https://registry.npmjs.org/{name}").status_code

    try:
        threads = [threading.Thread(target=fetch, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        refused = sorted(n for n, status in results.items() if status == 403)
        again = get(running, f"https://registry.npmjs.org/{refused[0]}") if refused else None
    finally:
        running.proxy.stop()
    assert len(asker.asked) == MAX_OPEN_QUESTIONS + (1 if again is not None else 0)
    assert len(refused) == 4 and sorted(results.values()).count(200) == MAX_OPEN_QUESTIONS
    assert again is not None and again.status_code == 200  # asked now, approved


def test_debian_index_and_packages_pass_under_the_lists_without_an_age_gate(
    upstream, registry, pki, ca_dir
):
    asker = Asker({"curl": True})
    running = _proxy(
        upstream, registry, pki, ca_dir, denied_packages=("netcat-*",), default_action="escalate",
        allowed_packages=("hello",),
    )  # fmt: skip
    running.proxy.package_asker = asker
    pool = "https://deb.debian.org/debian/pool/main"
    try:
        index = get(running, "https://deb.debian.org/debian/dists/bookworm/InRelease")
        listed = get(running, f"{pool}/h/hello/hello_2.10-3_amd64.deb")
        asked = get(running, f"{pool}/c/curl/curl_7.88.1-10_amd64.deb")
        denied = get(running, f"{pool}/n/netcat-openbsd/netcat-openbsd_1.219-1_amd64.deb")
        other = get(running, "https://deb.debian.org/debian/project/trace/master")
    finally:
        running.proxy.stop()
    assert index.status_code == 200 and index.content.startswith(b"Origin: Debian")  # unfiltered
    assert listed.status_code == 200 and asked.status_code == 200  # no age gate in Debian
    assert asker.asked == ["debian:curl"]  # the index names no package: never asked about
    assert denied.status_code == 403 and "deniedPackages" in denied.text
    assert other.status_code == 403
    seen = [p for _, p, _ in registry.seen]
    assert not any("netcat" in p or "trace" in p for p in seen)
    reasons = [e.reason for e in running.events if e.rule == "package-passed"]
    assert any("debian archive index" in r for r in reasons), reasons
