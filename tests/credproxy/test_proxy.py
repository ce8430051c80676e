"""The live proxy over real TLS on loopback: key swap, refusals, streaming, usage, fail-closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import stat
import threading
from pathlib import Path

import httpx
import pytest
from credproxy_fakes import CUT, REAL_KEYS, raw_request

from appliance.credproxy import CredentialProxy, ProxyConfig, ProxyStartError
from appliance.credproxy.addons import gate as gate_module
from appliance.credproxy.addons import keyswap as keyswap_module

MESSAGES = "https://api.anthropic.com/v1/messages"


def post(running, url=MESSAGES, key=None, **kwargs):
    headers = {"x-api-key": running.proxy.fake_keys["anthropic"] if key is None else key}
    headers.update(kwargs.pop("headers", {}))
    with running.client() as client:
        return client.post(url, headers=headers, json={"model": "m"}, **kwargs)


def test_allowed_request_reaches_upstream_with_the_real_key_only(running, upstream) -> None:
    fake = running.proxy.fake_keys["anthropic"]
    response = post(running, headers={"cookie": "a=b", "anthropic-version": "2023-06-01"})
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "hello"
    (seen,) = upstream.seen
    assert seen.headers["x-api-key"] == [REAL_KEYS["anthropic"]]
    assert seen.headers["host"] == ["api.anthropic.com"]
    assert seen.sni == "api.anthropic.com"
    assert "cookie" not in seen.headers and "authorization" not in seen.headers
    assert seen.headers["anthropic-version"] == ["2023-06-01"]
    assert json.loads(seen.body) == {"model": "m"}
    everything = json.dumps(seen.headers) + seen.path + seen.body.decode()
    assert fake not in everything
    assert running.kinds() == ["forwarded", "usage"]


def test_fake_keys_have_the_provider_formats(running) -> None:
    keys = running.proxy.fake_keys
    assert keys["anthropic"].startswith("sk-ant-api03-") and keys["anthropic"].endswith("AA")
    assert len(keys["anthropic"]) == len("sk-ant-api03-") + 95
    assert keys["openai"].startswith("sk-proj-")
    assert keys["google"].startswith("AIza") and len(keys["google"]) == 39
    assert REAL_KEYS["anthropic"] not in keys.values()


def test_wrong_key_is_refused_and_never_forwarded(running, upstream) -> None:
    response = post(running, key="sk-ant-api03-" + "z" * 93 + "AA")
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "permission_error"
    assert "DENIED" in body["error"]["message"]
    assert upstream.seen == []
    (event,) = running.events
    assert (event.kind, event.rule, event.status) == ("denied", "key-mismatch", 403)


def test_missing_key_is_refused(running, upstream) -> None:
    with running.client() as client:
        response = client.post(MESSAGES, json={})
    assert response.status_code == 403
    assert upstream.seen == []
    assert running.events[0].rule == "key-missing"


def test_other_host_gets_403_at_connect(running, upstream) -> None:
    with running.client() as client, pytest.raises(httpx.ProxyError, match="403"):
        client.get("https://example.com/")
    assert running.events[0].rule == "host-not-allowed"
    assert running.events[0].host == "example.com"


def test_other_path_and_method_get_403(running, upstream) -> None:
    assert post(running, url="https://api.anthropic.com/v1/files").status_code == 403
    with running.client() as client:
        fake = running.proxy.fake_keys["anthropic"]
        response = client.get(MESSAGES, headers={"x-api-key": fake})
    assert response.status_code == 403
    assert [e.rule for e in running.events] == ["route-not-allowed", "route-not-allowed"]
    assert upstream.seen == []


def test_unconfigured_provider_is_refused(upstream, pki, ca_dir) -> None:
    from proxy_harness import start_proxy

    r = start_proxy(upstream, pki, ca_dir, providers=("anthropic",))
    try:
        assert set(r.proxy.fake_keys) == {"anthropic"}
        with r.client() as client, pytest.raises(httpx.ProxyError, match="403"):
            client.post("https://api.openai.com/v1/chat/completions", json={})
        assert r.events[0].rule == "host-not-allowed"
    finally:
        r.proxy.stop()


def test_openai_bearer_and_google_query_key_are_swapped(running, upstream) -> None:
    fakes = running.proxy.fake_keys
    upstream.json_body = {"usage": {"prompt_tokens": 5, "completion_tokens": 2}, "model": "gpt"}
    with running.client() as client:
        openai = client.post(
            "https://api.openai.com/v1/chat/completions",
            headers={"authorization": f"Bearer {fakes['openai']}"},
            json={},
        )
        google = client.post(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent",
            params={"key": fakes["google"], "alt": "json"},
            json={},
        )
    assert (openai.status_code, google.status_code) == (200, 200)
    assert upstream.seen[0].headers["authorization"] == [f"Bearer {REAL_KEYS['openai']}"]
    assert upstream.seen[1].headers["x-goog-api-key"] == [REAL_KEYS["google"]]
    assert "key=" not in upstream.seen[1].path and "alt=json" in upstream.seen[1].path
    usage = [e.usage for e in running.events if e.kind == "usage"]
    assert (usage[0].input_tokens, usage[0].output_tokens, usage[0].model) == (5, 2, "gpt")


def test_event_stream_arrives_incrementally_and_is_metered(running, upstream) -> None:
    start = {
        "type": "message_start",
        "message": {"model": "claude", "usage": {"input_tokens": 25, "output_tokens": 1}},
    }
    delta = {"type": "message_delta", "usage": {"output_tokens": 42}}
    upstream.sse_events = [
        b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n",
        b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n',
        b"event: message_delta\ndata: " + json.dumps(delta).encode() + b"\n\n",
    ]
    upstream.sse_gates = [threading.Event(), threading.Event()]
    fake = running.proxy.fake_keys["anthropic"]
    received = b""
    with (
        running.client() as client,
        client.stream("POST", MESSAGES, headers={"x-api-key": fake}, json={}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        chunks = response.iter_raw()
        while b"message_start" not in received or not received.endswith(b"\n\n"):
            received += next(chunks)
        # The upstream is still blocked before its second event: what we hold came through alone.
        assert b"content_block_delta" not in received
        assert not upstream.sse_gates[0].is_set()
        upstream.sse_gates[0].set()
        while b"content_block_delta" not in received:
            received += next(chunks)
        upstream.sse_gates[1].set()
        received += b"".join(chunks)
    assert received == b"".join(upstream.sse_events)
    (usage,) = [e for e in running.events if e.kind == "usage"]
    assert (usage.usage.input_tokens, usage.usage.output_tokens) == (25, 42)
    assert usage.usage.model == "claude"


def test_a_raising_hook_kills_the_flow_and_nothing_is_forwarded(
    running, upstream, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("bug in a check")

    monkeypatch.setattr(keyswap_module, "check_key", broken)
    with pytest.raises(CUT):
        post(running)
    assert upstream.seen == []
    killed = [e for e in running.events if e.kind == "killed"]
    assert killed and killed[0].rule == "hook-failed"
    assert "bug in a check" not in json.dumps([e.model_dump() for e in running.events])


def test_mitmproxy_swallowing_an_unwrapped_hook_error_still_forwards_nothing(
    running, upstream, monkeypatch, caplog
) -> None:
    """mitmproxy logs an addon's exception and carries on (fail-open); the seal catches it."""

    def unwrapped(self, flow):
        raise RuntimeError("escaped the wrapper")

    monkeypatch.setattr(gate_module.Gate, "requestheaders", unwrapped)
    caplog.set_level(logging.ERROR)
    with pytest.raises(CUT):
        post(running)
    assert "Addon error: escaped the wrapper" in caplog.text  # mitmproxy swallowed it...
    assert upstream.seen == []  # ...and the seal refused the unchecked flow
    assert [e.rule for e in running.events if e.kind == "killed"] == ["unchecked"]


def test_a_client_socket_mitmproxy_leaves_open_is_closed(running, monkeypatch) -> None:
    """mitmproxy closes a killed connection by cancelling its handler; when the cancel lands at
    an await outside the handler's try (a race: about one fresh proxy in 35 here), the handler
    ends without closing the socket and the client waits for its whole timeout. Forced here: a
    handler that ends as that race leaves it. The seal closes what is left when the client is
    reported gone."""

    async def ends_without_closing(self, connection) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(
        "mitmproxy.proxy.server.ConnectionHandler.handle_connection", ends_without_closing
    )
    with socket.create_connection(("127.0.0.1", running.endpoints.tcp_port), timeout=5) as sock:
        sock.sendall(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # closed with our request unread
            assert sock.recv(1024) == b""  # closed (it timed out before the seal closed it)


def test_a_failing_budget_check_refuses(running, upstream) -> None:
    running.budget_error = OSError("budget store unreadable")
    with pytest.raises(CUT):
        post(running)
    assert upstream.seen == []
    assert [(e.kind, e.rule) for e in running.events] == [("killed", "hook-failed")]


def test_an_audit_callback_failure_kills_the_request(upstream, pki, ca_dir) -> None:
    def on_event(event) -> None:
        if event.kind == "forwarded":
            raise OSError("audit log full")

    proxy = CredentialProxy(
        ProxyConfig(
            real_keys=REAL_KEYS,
            upstream_overrides={"api.anthropic.com": ("127.0.0.1", upstream.port)},
            extra_upstream_ca=pki[0],
            confdir=ca_dir,
        ),
        on_event,
    )
    with proxy:
        head = b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: %s\r\n" % (
            proxy.fake_keys["anthropic"].encode()
        )
        answer = raw_request(
            proxy.endpoints.tcp_port,
            proxy.endpoints.ca_cert_pem_path,
            "api.anthropic.com:443",
            head,
        )
    assert answer.status is None
    assert upstream.seen == []


def test_budget_stop_refuses_further_requests(running, upstream) -> None:
    assert post(running).status_code == 200
    running.budget_reason = "token budget 1000000 reached"
    response = post(running)
    assert response.status_code == 403
    assert "budget exhausted" in response.json()["error"]["message"]
    assert len(upstream.seen) == 1
    assert running.events[-1].rule == "budget-exhausted"


def test_upstream_failure_is_a_502_and_an_error_event(upstream, pki, ca_dir) -> None:
    from proxy_harness import start_proxy

    r = start_proxy(
        upstream, pki, ca_dir, upstream_overrides={"api.anthropic.com": ("127.0.0.1", 1)}
    )
    try:
        assert post(r).status_code == 502
        assert "error" in r.kinds()
    finally:
        r.proxy.stop()


def test_non_http_bytes_in_the_tunnel_go_nowhere(running, upstream) -> None:
    answer = raw_request(
        running.endpoints.tcp_port,
        running.endpoints.ca_cert_pem_path,
        "api.anthropic.com:443",
        b"\x00\x01binary garbage, not HTTP\r\n",
    )
    assert answer.status in (None, 400)
    assert upstream.seen == []


def test_socket_front_is_private_and_cleaned_up(running) -> None:
    path = running.endpoints.unix_socket_path
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    running.proxy.stop()
    assert not path.exists() and not path.parent.exists()
    running.proxy.stop()  # twice is fine


def test_one_proxy_per_process(running, pki, ca_dir) -> None:
    other = CredentialProxy(ProxyConfig(real_keys=REAL_KEYS, confdir=ca_dir), lambda e: None)
    with pytest.raises(ProxyStartError, match="another credential proxy"):
        other.start()


def test_listens_on_loopback_only(running) -> None:
    port = f"{running.endpoints.tcp_port:04X}"
    listening = [
        fields[1]
        for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
        if table.exists()
        for fields in (line.split() for line in table.read_text().splitlines()[1:])
        if fields[1].endswith(f":{port}") and fields[3] == "0A"
    ]
    assert listening == ["0100007F:" + port]


def test_untrusted_upstream_certificate_is_refused(upstream, pki, ca_dir) -> None:
    """Without the test CA the fake upstream is an impostor: no request may reach it."""
    from proxy_harness import start_proxy

    r = start_proxy(upstream, pki, ca_dir, extra_upstream_ca=None)
    try:
        assert post(r).status_code == 502
        assert upstream.seen == []
        assert "error" in r.kinds()
    finally:
        r.proxy.stop()


def test_oversized_request_body_is_refused(upstream, pki, ca_dir) -> None:
    from proxy_harness import start_proxy

    r = start_proxy(upstream, pki, ca_dir, max_body_bytes=1000)
    try:
        fake = r.proxy.fake_keys["anthropic"]
        with r.client() as client:
            response = client.post(MESSAGES, headers={"x-api-key": fake}, content=b"x" * 5000)
        assert response.status_code == 413
        assert upstream.seen == []
    finally:
        r.proxy.stop()


def test_each_request_on_a_kept_alive_tunnel_is_checked(running, upstream) -> None:
    fake = running.proxy.fake_keys["anthropic"]
    with running.client() as client:
        statuses = [
            client.post(MESSAGES, headers={"x-api-key": key}, json={}).status_code
            for key in (fake, "sk-ant-api03-guess", fake)
        ]
    assert statuses == [200, 403, 200]
    assert len(upstream.seen) == 2
    assert all(s.headers["x-api-key"] == [REAL_KEYS["anthropic"]] for s in upstream.seen)


def test_loosening_settings_are_warned_at_start(running, caplog) -> None:
    running.proxy.stop()
    caplog.set_level(logging.WARNING, logger="appliance.credproxy")
    running.proxy.start()
    warnings = [r.getMessage() for r in caplog.records if r.name == "appliance.credproxy"]
    assert any("redirected to 127.0.0.1" in w for w in warnings)
    assert any("upstream TLS trusts only" in w for w in warnings)


def test_openai_streams_are_asked_to_report_usage(running, upstream) -> None:
    fake = running.proxy.fake_keys["openai"]
    upstream.sse_events = [
        b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1}}\n\n',
        b"data: [DONE]\n\n",
    ]
    with running.client() as client:
        response = client.post(
            "https://api.openai.com/v1/chat/completions",
            headers={"authorization": f"Bearer {fake}"},
            json={"model": "gpt-5", "stream": True, "stream_options": {"x": 1}},
        )
    assert response.status_code == 200
    sent = json.loads(upstream.seen[0].body)
    assert sent["stream_options"] == {"x": 1, "include_usage": True}
    (usage,) = [e.usage for e in running.events if e.kind == "usage"]
    assert (usage.input_tokens, usage.output_tokens) == (4, 1)


def test_provider_errors_are_reported_with_their_status(running, upstream) -> None:
    upstream.json_status = 401
    upstream.json_body = {"type": "error", "error": {"type": "authentication_error"}}
    assert post(running).status_code == 401
    (event,) = [e for e in running.events if e.kind == "usage"]
    assert (event.status, event.usage, event.reason) == (401, None, "provider answered 401")
