"""A declared third-party server (server-everything, npm) through the two agent-facing fronts:
Code Mode's WebAssembly guest (its tools as a namespace with their docs; a large result intact;
arguments over the bridge's cap refused, saying so) and ``ironcurtain mcp-proxy`` over stdio
with the official SDK client (a large result intact; a request over the proxy's line cap refused
with a message; binary content withheld with a line that says so)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.config.settings import load_config
from appliance.sandbox.limits import Limits
from appliance.session.core import SessionOptions, open_session
from tests.declared.test_third_party_servers import declare, npm_bin  # noqa: F401 (fixture)
from tests.declared.third_party import policy_with

BIG = 900_000  # characters echoed: under Code Mode's 1 MiB argument cap, with the JSON around it


def _guest_sandbox():
    from appliance.sandbox.guest import make_sandbox

    try:
        return make_sandbox()
    except Exception as exc:  # the guest is built by `python -m wasm_guest.build`
        pytest.skip(f"the sandbox guest is not built: {exc}")


CODE = f"""
big = "see https://example.org/ " + "".join(chr(65 + i % 26) for i in range({BIG}))
echoed = everything.echo(message=big)
print("intact", echoed == "Echo: " + big, len(echoed))
try:
    everything.echo(message="x" * {Limits().max_args_bytes + 10})
except Exception as exc:
    print("refused", type(exc).__name__, str(exc)[:200])
print("sum", everything.get_sum(a=2, b=3))
print("image", everything.get_tiny_image()[:200])
help(everything)
help(everything.get_sum)
"""


def test_code_mode_namespace_docs_and_large_results(npm_bin: Path, tmp_path: Path) -> None:  # noqa: F811
    from appliance.sandbox.code_mode import CodeExecutor

    declare({"everything": {"command": str(npm_bin / "mcp-server-everything")}})
    policy = policy_with(tmp_path / "policy", "everything")
    sandbox = _guest_sandbox()

    async def run():
        options = SessionOptions(task="t", sandbox=tmp_path / "sb", policy_dir=policy)
        async with open_session(load_config(), app_paths(), options) as session:
            catalog = [t.catalog_entry() for t in await session.servers.all_tools()]
            return await CodeExecutor(session.chokepoint, sandbox, catalog).run(CODE)

    result = anyio.run(run)
    assert result.error is None, result.error
    out = result.stdout
    assert f"intact True {BIG + 31}" in out
    assert "refused ToolError ERROR: arguments too large (" in out and "the limit is" in out
    assert "sum The sum of 2 and 3 is 5." in out
    assert "base64 chars: binary content is not passed to the agent]" in out
    # help(): the declared server is a namespace; its tools (with '-' as '_') and their docs
    listing = out.split("The image above is the MCP logo.\n", 1)[1]
    assert "everything.get_tiny_image()\n    Returns a tiny MCP logo image" in listing
    assert "everything.echo(message)\n    Echoes back the input string" in listing
    assert "everything.get_sum(a, b)\n    Returns the sum of two numbers" in listing
    assert "    a (number, required)" in listing


def _proxy_params(tmp_path: Path, policy: Path):
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "IRONCURTAIN_HOME": str(app_paths().home)}
    args = ["-m", "appliance.cli", "mcp-proxy", "--policy-dir", str(policy),
            "--sandbox", str(tmp_path / "sb")]  # fmt: skip
    return StdioServerParameters(command=sys.executable, args=args, env=env)


@pytest.mark.anyio
async def test_mcp_proxy_large_and_binary_results(npm_bin: Path, tmp_path: Path) -> None:  # noqa: F811
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    declare({"everything": {"command": str(npm_bin / "mcp-server-everything")}})
    policy = policy_with(tmp_path / "policy", "everything")
    big = "see https://example.org/ " + "".join(chr(65 + i % 26) for i in range(3_000_000))
    async with (
        stdio_client(_proxy_params(tmp_path, policy)) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        names = {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("everything__echo", {"message": big})
        image = await client.call_tool("everything__get-tiny-image", {})
    assert {"everything__echo", "everything__get-sum"} <= names
    assert not echoed.is_error and echoed.content[0].text == "Echo: " + big
    assert "binary content is not passed to the agent]" in image.content[0].text
    log = next(app_paths().sessions.glob("*/audit.jsonl"))
    calls = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "call"]
    assert [(r["tool"], r["rule"], r["status"]) for r in calls] == [
        ("echo", "allow-links-to-example-org", "ok"),
        ("get-tiny-image", "allow-everything-demo-tools", "ok"),
    ]


def test_mcp_proxy_refuses_a_request_over_its_line_cap_and_keeps_serving(
    npm_bin: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Over 16 MiB a request line is not parsed, so its id is unknown: the answer carries
    ``id: null`` (JSON-RPC's rule) and says why; the next request is answered as usual."""
    import subprocess

    declare({"everything": {"command": str(npm_bin / "mcp-server-everything")}})
    params = _proxy_params(tmp_path, policy_with(tmp_path / "policy", "everything"))
    init = {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}  # fmt: skip
    huge = {"name": "everything__echo", "arguments": {"message": "y" * (17 << 20)}}
    lines = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": huge},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    done = subprocess.run(
        [params.command, *params.args], input=data, capture_output=True, env=params.env,
        timeout=60, check=False,
    )  # fmt: skip
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("id") for r in replies] == [0, None, 2], done.stderr[-500:]
    assert replies[1]["error"]["message"] == (
        "Request too large (limit 16777216 bytes per message)"
    )
    assert replies[2]["result"] == {}
