"""A provider's traffic through a gateway the user chose (LiteLLM proxy, OpenRouter, Ollama): the
real proxy, every check as for the provider, then the request re-addressed; the real key goes to
the gateway only, and nowhere else can be reached."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from credproxy_fakes import REAL_KEYS
from proxy_harness import start_proxy
from pydantic import ValidationError

from appliance.credproxy import ProxyConfig
from appliance.credproxy.addons.base import Reporter
from appliance.credproxy.addons.seal import Seal

MESSAGES = "https://api.anthropic.com/v1/messages"
VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "credproxy" / "gateways.json").read_text()
)


def post(running, url=MESSAGES):
    headers = {"x-api-key": running.proxy.fake_keys["anthropic"], "anthropic-version": "1"}
    with running.client() as client:
        return client.post(url, headers=headers, json={"model": "m"})


def test_an_https_gateway_gets_the_request_with_the_real_key(upstream, pki, ca_dir):
    gateway = f"https://localhost:{upstream.port}/gw/"
    running = start_proxy(upstream, pki, ca_dir, gateways={"anthropic": gateway})
    try:
        response = post(running)
    finally:
        running.proxy.stop()
    assert response.status_code == 200, response.text
    (seen,) = upstream.seen
    assert seen.path == "/gw/v1/messages"
    assert seen.sni == "localhost" and seen.headers["host"] == [f"localhost:{upstream.port}"]
    assert seen.headers["x-api-key"] == [REAL_KEYS["anthropic"]]
    assert running.proxy.fake_keys["anthropic"] not in json.dumps(seen.headers)
    assert any("gateway" in note for note in running.proxy.config.loosening())


def test_routes_and_keys_are_still_checked_before_the_gateway(upstream, pki, ca_dir):
    running = start_proxy(
        upstream, pki, ca_dir, gateways={"anthropic": f"https://localhost:{upstream.port}"}
    )
    try:
        wrong_route = post(running, "https://api.anthropic.com/v1/admin/keys")
        with running.client() as client:
            wrong_key = client.post(MESSAGES, headers={"x-api-key": "sk-ant-made-up"}, json={})
    finally:
        running.proxy.stop()
    assert wrong_route.status_code == 403 and wrong_key.status_code == 403
    assert upstream.seen == []


class _PlainGateway:
    """A local gateway over plain http (a LiteLLM proxy or Ollama on this machine)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps(
                    {"id": "m", "type": "message", "role": "assistant", "model": "m",
                     "content": [{"type": "text", "text": "via gateway"}],
                     "usage": {"input_tokens": 1, "output_tokens": 1}}
                ).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_plain_http_gateway_on_this_machine(upstream, pki, ca_dir):
    gateway = _PlainGateway()
    running = start_proxy(
        upstream, pki, ca_dir, gateways={"anthropic": f"http://127.0.0.1:{gateway.port}/litellm"}
    )
    try:
        response = post(running)
    finally:
        running.proxy.stop()
        gateway.close()
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "via gateway"
    ((path, headers),) = gateway.seen
    assert path == "/litellm/v1/messages"
    assert headers["x-api-key"] == REAL_KEYS["anthropic"]
    assert headers["host"] == f"127.0.0.1:{gateway.port}"
    assert upstream.seen == []  # the provider's own host was never dialled


def test_the_seal_allows_the_gateway_in_place_of_the_provider_host():
    seal = Seal(("anthropic", "openai"), Reporter(lambda event: None), {"anthropic": ("gw", 4000)})
    assert seal.endpoints == {("gw", 4000), ("api.openai.com", 443)}


@pytest.mark.parametrize("url", VECTORS["accepted"])
def test_gateway_urls_accepted(url):
    ProxyConfig(real_keys={"anthropic": "k"}, gateways={"anthropic": url})


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda c: c["url"])
def test_gateway_urls_refused(case):
    with pytest.raises(ValidationError) as caught:
        ProxyConfig(real_keys={"anthropic": "k"}, gateways={"anthropic": case["url"]})
    assert case["error"] in str(caught.value)


def test_a_gateway_for_a_provider_not_allowed_is_refused():
    with pytest.raises(ValidationError, match="not among the allowed providers"):
        ProxyConfig(real_keys={"anthropic": "k"}, gateways={"openai": "https://gw.example.test"})


def test_a_subscription_token_never_goes_to_a_gateway(tmp_path):
    credentials = tmp_path / ".credentials.json"
    credentials.write_text("{}")
    with pytest.raises(ValidationError, match="goes to Anthropic only"):
        ProxyConfig(anthropic_oauth=credentials, gateways={"anthropic": "https://gw.example.test"})


def test_docker_mode_sends_the_agent_where_the_provider_base_url_setting_points():
    """The setting Code Mode's model calls use (anthropicBaseUrl) routes Docker mode's agent."""
    from appliance.config.settings import Config
    from appliance.docker.adapters import adapter_for
    from appliance.docker.auth import DockerAuth
    from appliance.docker.container import RuntimeDir
    from appliance.docker.run import _proxy

    config = Config.model_validate(
        {"anthropicApiKey": "sk-ant-real-0123456789", "anthropicBaseUrl": "http://127.0.0.1:4000"}
    )
    adapter = adapter_for("claude-code")
    auth = DockerAuth("apikey", key="sk-ant-real-0123456789")
    with RuntimeDir() as runtime:
        proxy, _ = _proxy(config, adapter, auth, runtime, {})
        assert proxy.config.gateways == {"anthropic": "http://127.0.0.1:4000"}
        proxy, _ = _proxy(Config(), adapter, auth, runtime, {})
        assert proxy.config.gateways == {}
