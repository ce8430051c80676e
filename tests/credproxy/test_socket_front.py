"""The Unix-socket front the container gets: direct, and through the shipped container relay."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from credproxy_fakes import REAL_KEYS, raw_request

import appliance.credproxy
from appliance.credproxy import CredentialProxy, ProxyConfig, ProxyStartError

RELAY = Path(appliance.credproxy.__file__).parent / "container_relay.mjs"


def test_request_through_the_unix_socket(running, upstream) -> None:
    endpoints = running.endpoints
    fake = running.proxy.fake_keys["anthropic"].encode()
    answers = [
        raw_request(
            0,
            endpoints.ca_cert_pem_path,
            "api.anthropic.com:443",
            b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: %s\r\n" % key,
            unix_path=endpoints.unix_socket_path,
        )
        for key in (fake, b"sk-ant-api03-wrong")
    ]
    assert [a.status for a in answers] == [200, 403]
    assert json.loads(answers[0].body)["type"] == "message"
    assert len(upstream.seen) == 1
    assert upstream.seen[0].headers["x-api-key"] == [REAL_KEYS["anthropic"]]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_container_relay_script(running, upstream) -> None:
    """What runs in the container: node relay on loopback TCP -> the proxy's Unix socket."""
    relay = subprocess.Popen(
        ["node", str(RELAY), str(running.endpoints.unix_socket_path), "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(relay.stdout.readline())
        context = ssl.create_default_context(cafile=str(running.endpoints.ca_cert_pem_path))
        with httpx.Client(proxy=f"http://127.0.0.1:{port}", verify=context, trust_env=False) as c:
            fake = running.proxy.fake_keys["anthropic"]
            for _ in range(3):  # kept alive through both relays
                response = c.post(
                    "https://api.anthropic.com/v1/messages", headers={"x-api-key": fake}, json={}
                )
                assert response.status_code == 200
            with pytest.raises(httpx.ProxyError, match="403"):
                c.get("https://example.com/")
    finally:
        relay.terminate()
        relay.wait(5)
    assert len(upstream.seen) == 3


@pytest.mark.parametrize(("mode", "socket_mode"), [(0o755, 0o600), (0o750, 0o600), (0o705, 0o660)])
def test_open_socket_dir_is_refused(tmp_path: Path, mode: int, socket_mode: int) -> None:
    folder = tmp_path / "sock"
    folder.mkdir()
    folder.chmod(mode)
    config = ProxyConfig(
        real_keys=REAL_KEYS, confdir=tmp_path / "ca", socket_dir=folder, socket_mode=socket_mode
    )
    with pytest.raises(ProxyStartError, match=f"mode {oct(mode)}"):
        CredentialProxy(config, lambda e: None).start()


def test_group_socket_mode(upstream, pki, ca_dir, tmp_path: Path) -> None:
    from proxy_harness import start_proxy

    folder = tmp_path / "sock"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    r = start_proxy(upstream, pki, ca_dir, socket_dir=folder, socket_mode=0o660)
    try:
        assert r.endpoints.unix_socket_path == folder / "proxy.sock"
        assert stat.S_IMODE(r.endpoints.unix_socket_path.stat().st_mode) == 0o660
    finally:
        r.proxy.stop()
    assert folder.is_dir() and not (folder / "proxy.sock").exists()  # not ours to remove


def test_stopped_proxy_listens_nowhere(running) -> None:
    port = running.endpoints.tcp_port
    assert running.proxy.alive
    running.proxy.stop()
    assert not running.proxy.alive
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_missing_upstream_ca_file_is_named(tmp_path: Path) -> None:
    config = ProxyConfig(
        real_keys=REAL_KEYS, confdir=tmp_path / "ca", extra_upstream_ca=tmp_path / "nope.pem"
    )
    with pytest.raises(ProxyStartError, match=r"nope\.pem: no such file"):
        CredentialProxy(config, lambda e: None).start()


NODE_CLIENT = r"""
// A node TLS client, as Claude Code is one: CONNECT through the relay, then TLS trusting only
// the proxy's CA (like NODE_EXTRA_CA_CERTS), then one request with the fake key.
import http from "node:http";
import tls from "node:tls";
import fs from "node:fs";
const [port, caPath, key] = process.argv.slice(2);
const target = "api.anthropic.com:443";
const req = http.request({ host: "127.0.0.1", port, method: "CONNECT", path: target });
req.on("connect", (res, socket) => {
  const ca = fs.readFileSync(caPath);
  const s = tls.connect({ socket, servername: "api.anthropic.com", ca }, () => {
    s.write("POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: " + key +
            "\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
  });
  let out = "";
  s.on("data", (d) => { out += d; });
  s.on("end", () => { console.log(out.split("\r\n")[0]); });
  s.on("error", (e) => { console.log("TLS ERROR " + e.message); });
});
req.end();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_tls_client_trusts_the_proxy_ca(running, upstream, tmp_path: Path) -> None:
    script = tmp_path / "client.mjs"
    script.write_text(NODE_CLIENT)
    relay = subprocess.Popen(
        ["node", str(RELAY), str(running.endpoints.unix_socket_path), "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = relay.stdout.readline().strip()
        fake = running.proxy.fake_keys["anthropic"]
        ca = str(running.endpoints.ca_cert_pem_path)
        out = subprocess.run(
            ["node", str(script), port, ca, fake], capture_output=True, text=True, timeout=30
        )
    finally:
        relay.terminate()
        relay.wait(5)
    assert out.stdout.strip() == "HTTP/1.1 200 OK", out.stdout + out.stderr
    assert upstream.seen[0].headers["x-api-key"] == [REAL_KEYS["anthropic"]]
