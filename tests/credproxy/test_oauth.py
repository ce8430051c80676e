"""A Claude subscription instead of an API key (issue 22): the real mitmproxy, real TLS, the
fake Anthropic upstream and a scripted token endpoint on loopback. The container's placeholder
token is swapped for the real access token; an expiring token is refreshed on the host and
written back to the user's credentials file atomically; nothing of the real tokens reaches the
client, the events or the file's other fields."""

from __future__ import annotations

import json
import stat
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from credproxy_fakes import REAL_KEYS, serve_tls
from proxy_harness import start_proxy

from appliance.credproxy import ProxyConfig, ProxyStartError
from appliance.credproxy.oauth import CLIENT_ID

MESSAGES = "https://api.anthropic.com/v1/messages"
ACCESS, REFRESH = "sk-ant-oat01-REAL-access-token-AA", "sk-ant-ort01-REAL-refresh-token-AA"
NEW_ACCESS, NEW_REFRESH = "sk-ant-oat01-NEW-access-token-AA", "sk-ant-ort01-NEW-refresh-AA"
NOT_ANTHROPIC = {k: v for k, v in REAL_KEYS.items() if k != "anthropic"}


@dataclass
class TokenEndpoint:
    port: int = 0
    status: int = 200
    answer: dict = field(
        default_factory=lambda: {
            "access_token": NEW_ACCESS,
            "refresh_token": NEW_REFRESH,
            "expires_in": 3600,
            "token_type": "Bearer",
        }
    )
    grants: list[dict[str, list[str]]] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def endpoint(pki):
    state = TokenEndpoint()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode()
            assert self.path == "/v1/oauth/token"
            assert self.headers["content-type"] == "application/x-www-form-urlencoded"
            state.grants.append(parse_qs(body))
            time.sleep(state.delay)
            data = json.dumps(state.answer).encode()
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = serve_tls(Handler, pki[1], pki[2])
    state.port = server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def _credentials(folder: Path, expires_in_s: float, access=ACCESS, refresh=REFRESH) -> Path:
    path = folder / ".credentials.json"
    data = {
        "claudeAiOauth": {
            "accessToken": access,
            "refreshToken": refresh,
            "expiresAt": int((time.time() + expires_in_s) * 1000),
            "scopes": ["user:inference"],
            "subscriptionType": "max",
        },
        "otherTool": {"kept": True},
    }
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def _start(upstream, pki, ca_dir, endpoint, credentials: Path):
    return start_proxy(
        upstream, pki, ca_dir,
        real_keys=NOT_ANTHROPIC,
        anthropic_oauth=credentials,
        oauth_token_url=f"https://localhost:{endpoint.port}/v1/oauth/token",
    )  # fmt: skip


def _post(running, token: str | None = None):
    fake = running.proxy.fake_keys["anthropic"] if token is None else token
    headers = {"authorization": f"Bearer {fake}", "anthropic-beta": "oauth-2025-04-20"}
    with running.client() as client:
        return client.post(MESSAGES, headers=headers, json={"model": "m"})


def test_the_placeholder_becomes_the_real_token_upstream(upstream, pki, ca_dir, endpoint, tmp_path):
    running = _start(upstream, pki, ca_dir, endpoint, _credentials(tmp_path, 3600))
    try:
        fake = running.proxy.fake_keys["anthropic"]
        assert fake.startswith("sk-ant-oat01-") and fake != ACCESS
        response = _post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 200
    (seen,) = upstream.seen
    assert seen.headers["authorization"] == [f"Bearer {ACCESS}"]
    assert "x-api-key" not in seen.headers
    assert seen.headers["anthropic-beta"] == ["oauth-2025-04-20"]  # Claude Code's own header
    assert fake not in json.dumps(seen.headers)
    assert endpoint.grants == []  # a valid token: nothing refreshed
    events = json.dumps([e.model_dump() for e in running.events])
    assert ACCESS not in events and REFRESH not in events


def test_an_expiring_token_is_refreshed_and_written_back(upstream, pki, ca_dir, endpoint, tmp_path):
    credentials = _credentials(tmp_path, 60)  # inside the refresh margin
    running = _start(upstream, pki, ca_dir, endpoint, credentials)
    try:
        response = _post(running)
        again = _post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 200 and again.status_code == 200
    (grant,) = endpoint.grants  # once, not per request
    assert grant == {
        "grant_type": ["refresh_token"], "refresh_token": [REFRESH], "client_id": [CLIENT_ID],
    }  # fmt: skip
    assert [s.headers["authorization"] for s in upstream.seen] == [[f"Bearer {NEW_ACCESS}"]] * 2
    data = json.loads(credentials.read_text())
    oauth = data["claudeAiOauth"]
    assert (oauth["accessToken"], oauth["refreshToken"]) == (NEW_ACCESS, NEW_REFRESH)
    assert abs(oauth["expiresAt"] / 1000 - (time.time() + 3600)) < 60
    assert oauth["subscriptionType"] == "max" and data["otherTool"] == {"kept": True}
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no half-written file


def test_a_refused_refresh_denies_and_changes_nothing(upstream, pki, ca_dir, endpoint, tmp_path):
    credentials = _credentials(tmp_path, -10)
    before = credentials.read_bytes()
    endpoint.status, endpoint.answer = 400, {"error": "invalid_grant"}
    running = _start(upstream, pki, ca_dir, endpoint, credentials)
    try:
        response = _post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "refused to refresh" in message and "log in again with `claude`" in message
    assert upstream.seen == []  # nothing forwarded with a dead token
    assert credentials.read_bytes() == before
    assert [e.rule for e in running.events if e.kind == "denied"] == ["oauth-refresh-failed"]


@pytest.mark.parametrize(
    "answer",
    [
        {"refresh_token": NEW_REFRESH, "expires_in": 3600},  # no access token
        {"access_token": NEW_ACCESS, "refresh_token": NEW_REFRESH},  # no expiry
        {"access_token": "has space in the middle", "expires_in": 3600},
        {"access_token": "short", "expires_in": 3600},
        {"access_token": NEW_ACCESS, "expires_in": -5},
        {"access_token": NEW_ACCESS, "expires_in": True},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_token_answer_is_refused(upstream, pki, ca_dir, endpoint, tmp_path, answer):
    credentials = _credentials(tmp_path, -10)
    before = credentials.read_bytes()
    endpoint.answer = answer
    running = _start(upstream, pki, ca_dir, endpoint, credentials)
    try:
        response = _post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 403 and upstream.seen == []
    assert credentials.read_bytes() == before


def test_a_401_makes_the_next_request_refresh(upstream, pki, ca_dir, endpoint, tmp_path):
    running = _start(upstream, pki, ca_dir, endpoint, _credentials(tmp_path, 3600))
    try:
        upstream.json_status = 401
        first = _post(running)
        upstream.json_status = 200
        second = _post(running)
    finally:
        running.proxy.stop()
    assert first.status_code == 401 and second.status_code == 200
    assert len(endpoint.grants) == 1
    sent = [s.headers["authorization"][0] for s in upstream.seen]
    assert sent == [f"Bearer {ACCESS}", f"Bearer {NEW_ACCESS}"]


def test_tokens_the_host_refreshed_meanwhile_are_adopted(upstream, pki, ca_dir, endpoint, tmp_path):
    """Claude Code on the host refreshed while the session ran: its refresh token spent ours,
    so the file's newer tokens are used and nothing is exchanged."""
    credentials = _credentials(tmp_path, 60)
    running = _start(upstream, pki, ca_dir, endpoint, credentials)
    try:
        _credentials(
            tmp_path,
            3600,
            access="sk-ant-oat01-HOST-refreshed-AA",
            refresh="sk-ant-ort01-host-refreshed",
        )
        response = _post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 200 and endpoint.grants == []
    assert upstream.seen[0].headers["authorization"] == ["Bearer sk-ant-oat01-HOST-refreshed-AA"]


def test_concurrent_requests_share_one_refresh(upstream, pki, ca_dir, endpoint, tmp_path):
    endpoint.delay = 0.3
    running = _start(upstream, pki, ca_dir, endpoint, _credentials(tmp_path, -1))
    statuses: list[int] = []
    try:
        threads = [threading.Thread(target=lambda: statuses.append(_post(running).status_code))
                   for _ in range(3)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        running.proxy.stop()
    assert statuses == [200, 200, 200]
    assert len(endpoint.grants) == 1


@pytest.mark.parametrize(
    "token",
    [ACCESS, "sk-ant-oat01-guessed-AA", "x"],
    ids=["the-real-token", "a-guess", "short"],
)
def test_only_the_issued_placeholder_is_swapped(upstream, pki, ca_dir, endpoint, tmp_path, token):
    running = _start(upstream, pki, ca_dir, endpoint, _credentials(tmp_path, 3600))
    try:
        response = _post(running, token=token)
    finally:
        running.proxy.stop()
    assert response.status_code == 403 and upstream.seen == []


def test_an_echoed_access_token_is_cut(upstream, pki, ca_dir, endpoint, tmp_path):
    """A response carrying the real (refreshed) token never reaches the container."""
    upstream.json_body = {"echo": NEW_ACCESS}
    running = _start(upstream, pki, ca_dir, endpoint, _credentials(tmp_path, -1))
    try:
        try:
            response = _post(running)
            delivered = response.text
        except Exception:  # the connection was cut: nothing delivered
            delivered = ""
    finally:
        running.proxy.stop()
    assert NEW_ACCESS not in delivered
    assert any(e.rule == "key-echo" for e in running.events)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example/v1/oauth/token", "loopback"),
        ("http://localhost:1/v1/oauth/token", "loopback"),
        ("https://user:pw@127.0.0.1:1/v1/oauth/token", "loopback"),
        ("https://10.0.0.1/v1/oauth/token", "loopback"),
    ],
)
def test_the_token_endpoint_is_anthropics_or_a_loopback_test_one(tmp_path, url, why):
    with pytest.raises(ValueError, match=why):
        ProxyConfig(
            providers=("anthropic",), anthropic_oauth=tmp_path / "c.json", oauth_token_url=url
        )


def test_a_key_and_a_subscription_at_once_are_refused(tmp_path):
    with pytest.raises(ValueError, match="choose one"):
        ProxyConfig(
            providers=("anthropic",),
            real_keys={"anthropic": REAL_KEYS["anthropic"]},
            anthropic_oauth=tmp_path / "c.json",
        )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read Claude Code's credentials"),
        ("{not json", "not JSON"),
        (
            '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-long-enough"}}',
            "refreshToken is missing",
        ),
        (
            '{"claudeAiOauth": {"accessToken": "a", "refreshToken": "b", "expiresAt": 1}}',
            "accessToken",
        ),
        ('{"other": 1}', "no claudeAiOauth section"),
    ],
)
def test_an_unusable_credentials_file_stops_the_start(upstream, pki, ca_dir, endpoint, tmp_path,
                                                      content, says):  # fmt: skip
    path = tmp_path / ".credentials.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ProxyStartError, match=says):
        _start(upstream, pki, ca_dir, endpoint, path)


def test_a_refused_refresh_token_is_not_sent_again(upstream, pki, ca_dir, endpoint, tmp_path):
    """No retry storm: once the endpoint refused the refresh token, later requests are refused
    at once; new tokens in the file (the user logged in again) are used without a restart."""
    credentials = _credentials(tmp_path, -10)
    endpoint.status, endpoint.answer = 400, {"error": "invalid_grant"}
    running = _start(upstream, pki, ca_dir, endpoint, credentials)
    try:
        statuses = [_post(running).status_code for _ in range(3)]
        _credentials(
            tmp_path, 3600, access="sk-ant-oat01-RELOGGED-AA", refresh="sk-ant-ort01-after-login"
        )
        after_login = _post(running)
    finally:
        running.proxy.stop()
    assert statuses == [403, 403, 403]
    assert len(endpoint.grants) == 1
    assert after_login.status_code == 200
    assert upstream.seen[0].headers["authorization"] == ["Bearer sk-ant-oat01-RELOGGED-AA"]
