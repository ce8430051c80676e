"""Second lines of defence: they must hold even when a first line is wrong."""

from __future__ import annotations

import threading

import httpx
import pytest
from credproxy_fakes import CUT, REAL_KEYS

from appliance.credproxy.addons import gate as gate_module
from appliance.credproxy.providers import PROVIDERS

REAL = REAL_KEYS["anthropic"]


def post(running, **kwargs):
    fake = running.proxy.fake_keys["anthropic"]
    with running.client() as client:
        return client.post(
            "https://api.anthropic.com/v1/messages", headers={"x-api-key": fake}, json={}, **kwargs
        )


def test_real_key_echoed_in_a_body_is_not_delivered(running, upstream) -> None:
    upstream.json_body = {"error": {"message": f"bad key {REAL}"}}
    with pytest.raises(CUT):
        post(running)
    assert [e.rule for e in running.events if e.kind == "killed"] == ["key-echo"]


def test_real_key_echoed_in_a_header_is_not_delivered(running, upstream) -> None:
    upstream.extra_headers = {"x-debug-key": REAL}
    with pytest.raises(CUT):
        post(running)
    assert [e.rule for e in running.events if e.kind == "killed"] == ["key-echo"]


def test_real_key_split_across_stream_chunks_is_cut(running, upstream) -> None:
    half = len(REAL) // 2
    upstream.sse_events = [
        b"data: {}\n\n",
        f'data: {{"text": "{REAL[:half]}'.encode(),
        f'{REAL[half:]}"}}\n\n'.encode(),
    ]
    upstream.sse_gates = [threading.Event(), threading.Event()]
    for gate in upstream.sse_gates:
        gate.set()  # sent as separate writes, as fast as they go
    fake = running.proxy.fake_keys["anthropic"]
    received = b""
    url = "https://api.anthropic.com/v1/messages"
    with running.client() as client:
        try:
            with client.stream("POST", url, headers={"x-api-key": fake}, json={}) as response:
                for chunk in response.iter_raw():
                    received += chunk
        except CUT:
            pass  # cut mid-body: either ending is fine, the bytes are what matter
    assert received.startswith(b"data: {}\n\n")
    assert REAL[:half].encode() not in received  # not even the first half left
    assert "key-echo" in [e.rule for e in running.events if e.kind == "killed"]


def test_held_back_tail_that_is_not_a_key_is_delivered(running, upstream) -> None:
    start = REAL[:10]  # looks like the start of the key, but the stream goes on differently
    upstream.sse_events = [f"data: {start}".encode(), b"-not-the-key\n\n"]
    upstream.sse_gates = [threading.Event()]
    upstream.sse_gates[0].set()
    fake = running.proxy.fake_keys["anthropic"]
    with running.client() as client:
        url = "https://api.anthropic.com/v1/messages"
        response = client.post(url, headers={"x-api-key": fake}, json={})
    assert response.content == f"data: {start}-not-the-key\n\n".encode()
    assert "killed" not in running.kinds()


def test_upstream_connection_to_another_host_is_refused_even_if_the_gate_errs(
    running, upstream, monkeypatch
) -> None:
    """A gate that wrongly admits example.com: the seal still refuses to dial it."""
    monkeypatch.setattr(gate_module, "check_destination", lambda *a: PROVIDERS["anthropic"])
    monkeypatch.setattr(gate_module, "check_route", lambda *a: None)
    fake = running.proxy.fake_keys["anthropic"]
    with running.client() as client:
        response = client.post(
            "https://example.com/v1/messages", headers={"x-api-key": fake}, json={}
        )
    assert response.status_code == 502
    assert upstream.seen == []
    errors = [e for e in running.events if e.kind == "error"]
    assert errors and "upstream not allowed" in errors[0].reason


def test_compressed_event_stream_is_cut(running, upstream) -> None:
    """The proxy asks for identity; a gzip stream it cannot search for the key is not delivered."""
    upstream.sse_events = [b"data: {}\n\n"]
    upstream.extra_headers = {"content-encoding": "gzip"}
    with pytest.raises(httpx.HTTPError):
        post(running)
    assert [e.reason for e in running.events if e.kind == "killed"] == ["unsearchable gzip stream"]
