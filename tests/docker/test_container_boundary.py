"""What a hostile agent in the container can and cannot do: one real Docker-mode session (TEST
image, credential proxy with the real key, gate socket, shipped policy, audit log) whose agent
runs every probe in `tests/vectors/docker/escape_probes.json`, dumps everything it can see for
the real-key search, and calls tools through the in-container socat bridge."""

from __future__ import annotations

import json
import os
import shlex
import socket
import threading
from pathlib import Path

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.docker.adapters import GATE_SOCKET, RELAY_PORT
from tests.credproxy.credproxy_fakes import make_test_pki, serve_upstream
from tests.docker.docker_helpers import REAL_KEY, run_script

pytestmark = pytest.mark.docker

VECTORS = Path(__file__).parents[1] / "vectors" / "docker" / "escape_probes.json"
CASES = json.loads(VECTORS.read_text())["cases"]
SESSION = "boundary"


def host_address() -> str:
    """An address of this host other than loopback (the route a container would try first)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a source address
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"  # no other interface: the probe still proves loopback is the container's
    finally:
        probe.close()


class Listener:
    """A TCP listener on every host address, recording whether anything ever connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


def mcp_lines(config_file: Path) -> str:
    def call(ident: int, name: str, arguments: dict) -> dict:
        params = {"name": name, "arguments": arguments}
        return {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": params}

    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(2, "filesystem__list_allowed_directories", {}),
        call(3, "filesystem__read_text_file", {"path": str(config_file)}),
    ]  # fmt: skip
    return "\n".join(json.dumps(m) for m in messages)


def probe_script(listener: Listener, config_file: Path) -> str:
    values = {"{host_ip}": host_address(), "{host_port}": str(listener.port),
              "{gate}": GATE_SOCKET, "{relay}": str(RELAY_PORT)}  # fmt: skip
    lines = []
    for case in CASES:
        shell = case["shell"]
        for key, value in values.items():
            shell = shell.replace(key, value)
        lines.append(f"( timeout 10 sh -c {shlex.quote(shell)} ) >/dev/null 2>&1; "
                     f"echo \"PROBE {case['id']} $?\"")  # fmt: skip
    # Everything the agent can read, for the host to search for the real key.
    lines += [
        "env > leak-env.txt; ps -o pid,args > leak-ps.txt 2>&1",
        "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline > leak-proc.txt 2>/dev/null",
        'find / \\( -path /proc -o -path /sys -o -path "$PWD" \\) -prune -o -type f -print'
        ' | while read -r f; do echo "== $f"; cat "$f"; done > leak-fs.txt 2>/dev/null',
        f"printf '%s\\n' {shlex.quote(mcp_lines(config_file))} "
        f"| socat -t 30 STDIO UNIX-CONNECT:{GATE_SOCKET} > mcp-out.jsonl",
        "echo PROBES-DONE",
        # Last: LLM requests through the relay and the proxy (TLS with the proxy's CA) until the
        # session's 40-token budget stops the agent; each fake answer reports 21 tokens. Each
        # request reserves 13 (16 bytes / 2 + max_tokens 5) before it goes upstream.
        "socat TCP-LISTEN:9443,bind=127.0.0.1,fork,reuseaddr "
        f"PROXY:127.0.0.1:api.anthropic.com:443,proxyport={RELAY_PORT} & sleep 0.3",
        "for i in 1 2 3 4; do (printf 'POST /v1/messages HTTP/1.1\\r\\nHost: api.anthropic.com"
        "\\r\\nx-api-key: %s\\r\\ncontent-type: application/json\\r\\ncontent-length: 16"
        '\\r\\nconnection: close\\r\\n\\r\\n{"max_tokens":5}\' "$ANTHROPIC_API_KEY"; '
        "sleep 1) | socat -t 3 - "
        "OPENSSL:127.0.0.1:9443,cafile=/run/ironcurtain/ca.pem,snihost=api.anthropic.com,"
        "commonname=api.anthropic.com > answer.txt 2>&1; cat answer.txt >> leak-traffic.txt; "
        'echo "LLM $i $(head -1 answer.txt)"; done',
        "sleep 60; echo NOT-STOPPED",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def boundary_run(test_image: str, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("boundary-home")
    sandbox = tmp_path_factory.mktemp("boundary-sandbox")
    listener = Listener()
    upstream, server = serve_upstream(*make_test_pki(home)[1:])
    settings = {"upstream_overrides": {"api.anthropic.com": ("127.0.0.1", upstream.port)},
                "extra_upstream_ca": home / "ca.pem"}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IRONCURTAIN_HOME", str(home))
        patch.delenv("ANTHROPIC_API_KEY", raising=False)
        paths = app_paths()
        script = probe_script(listener, paths.config_file)
        code, output = anyio.run(lambda: run_script(
            test_image, script, sandbox, SESSION, proxy_settings=settings,
            resource_budget={"max_total_tokens": 40},
        ))  # fmt: skip
    listener.sock.close()
    server.shutdown()
    results = dict(line.split()[1:3] for line in output.splitlines() if line.startswith("PROBE "))
    return {"code": code, "output": output, "results": results, "sandbox": sandbox,
            "paths": paths, "listener": listener, "upstream": upstream}  # fmt: skip


def test_every_probe_ran_and_the_budget_ended_the_session(boundary_run: dict) -> None:
    assert "PROBES-DONE" in boundary_run["output"]
    assert boundary_run["code"] == 3, boundary_run["output"]  # stopped by the session
    assert "NOT-STOPPED" not in boundary_run["output"]


def test_token_budget_refuses_llm_requests_once_used_up(boundary_run: dict) -> None:
    """21 tokens an answer, 40 allowed: the second answer uses the budget up; nothing after it
    reaches the provider, and the agent is stopped."""
    upstream = boundary_run["upstream"]
    assert len(upstream.seen) == 2
    assert all(seen.headers["x-api-key"] == [REAL_KEY] for seen in upstream.seen)
    answers = [line for line in boundary_run["output"].splitlines() if line.startswith("LLM ")]
    # The agent may be killed before its shell prints the second answer: only the first is sure.
    assert answers[0] == "LLM 1 HTTP/1.1 200 OK"
    assert all(" 200 " not in line for line in answers[2:]), answers


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_escape_probe(boundary_run: dict, case: dict) -> None:
    status = boundary_run["results"].get(case["id"])
    assert status is not None, f"probe {case['id']} did not run:\n{boundary_run['output']}"
    held = status != "0" if case["expect"] == "fail" else status == "0"
    assert held, f"{case['id']} ({case['description']}): exit status {status}"


def test_nothing_reached_the_host_listener(boundary_run: dict) -> None:
    assert boundary_run["listener"].accepted == 0


def test_the_real_key_appears_nowhere_the_agent_can_look(boundary_run: dict) -> None:
    sandbox: Path = boundary_run["sandbox"]
    env = (sandbox / "leak-env.txt").read_text()
    assert "ANTHROPIC_API_KEY=sk-ant-api03-" in env, "the dump must hold the FAKE key"
    dump = (sandbox / "leak-fs.txt").read_bytes()
    for name in (b"/etc/passwd", b"/run/ironcurtain/ca.pem", b"/home/agent/seeded.txt"):
        assert b"== " + name + b"\n" in dump, f"the dump lacks {name!r}: it is incomplete"
    needles = (REAL_KEY.encode(), REAL_KEY[-40:].encode())
    assert b"HTTP/1.1 200 OK" in (sandbox / "leak-traffic.txt").read_bytes()
    for name in ("leak-env.txt", "leak-ps.txt", "leak-proc.txt", "leak-fs.txt", "leak-traffic.txt"):
        data = (sandbox / name).read_bytes()
        assert not any(needle in data for needle in needles), f"real key found in {name}"
    assert REAL_KEY not in boundary_run["output"]


def test_tool_calls_from_the_container_reach_the_chokepoint_and_are_audited(
    boundary_run: dict,
) -> None:
    sandbox: Path = boundary_run["sandbox"]
    lines = (sandbox / "mcp-out.jsonl").read_text().splitlines()
    replies = {m["id"]: m for m in map(json.loads, lines)}
    allowed, denied = replies[2]["result"], replies[3]["result"]
    assert not allowed["isError"] and str(sandbox) in allowed["content"][0]["text"]
    assert denied["isError"] and denied["content"][0]["text"].startswith("DENIED")
    audit = boundary_run["paths"].session_dir(SESSION) / "audit.jsonl"
    entries = [
        e for e in map(json.loads, audit.read_text().splitlines()) if e.get("type") == "call"
    ]
    # The gate runs calls concurrently, so the audit order is the order they finished.
    by_tool = {e["tool"]: e for e in entries}
    assert len(entries) == 2 and by_tool["list_allowed_directories"]["decision"] == "allow"
    assert by_tool["read_text_file"]["decision"] == "deny"
    assert by_tool["read_text_file"]["rule"] == "structural-protected-path"
    assert all(e["server"] == "filesystem" for e in entries)


def test_files_the_agent_creates_belong_to_the_host_user(boundary_run: dict) -> None:
    made = boundary_run["sandbox"] / "made-in-container.txt"
    assert made.read_text() == "made-in-container\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (os.getuid(), os.getgid())


def test_proxy_refusals_are_audited_with_a_summary(boundary_run: dict) -> None:
    """F4: the probe's refused CONNECT is a record in the session's audit log (never a key), and
    the session ends with the proxy's totals."""
    audit = boundary_run["paths"].session_dir(SESSION) / "audit.jsonl"
    text = audit.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    proxy = [(r["event"], r["rule"]) for r in records if r.get("type") == "proxy"]
    assert ("denied", "host-not-allowed") in proxy  # the probe's CONNECT to example.com
    [summary] = [r for r in records if r.get("type") == "proxy-summary"]
    events = summary["events"]
    assert events["denied:host-not-allowed"] >= 1 and events["usage"] == 2
    assert "tokens: 42 / 40" in summary["usage"]
    assert REAL_KEY not in text
