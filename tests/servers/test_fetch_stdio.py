"""The fetch server over stdio, driven by the real MCP SDK client as the host would."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_fetch_support import local_site, page

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("servers_conftest_for_fetch", HERE / "conftest.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
stdio_session, result_text = _helpers.stdio_session, _helpers.result_text

pytestmark = pytest.mark.anyio


async def test_lists_both_tools_with_their_schemas() -> None:
    async with stdio_session(["fetch"]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"http_fetch", "web_search"}
    fetch_schema = tools["http_fetch"].input_schema
    assert fetch_schema["required"] == ["url"]
    assert fetch_schema["properties"]["format"]["enum"] == ["markdown", "text", "html"]
    assert tools["web_search"].input_schema["properties"]["count"]["maximum"] == 20


async def test_fetches_a_local_page_with_the_test_flag() -> None:
    with local_site({"/doc": page(b"<h1>Over stdio</h1><p>it <em>works</em></p>")}) as site:
        async with stdio_session(["fetch", "--allow-private-addresses"]) as session:
            result = await session.call_tool("http_fetch", {"url": site.url("/doc")})
    assert not result.is_error
    assert result_text(result) == "# Over stdio\n\nit *works*"
    assert result.structured_content["status"] == 200


async def test_refuses_loopback_without_the_flag() -> None:
    with local_site({"/doc": page(b"<p>private</p>")}) as site:
        async with stdio_session(["fetch"]) as session:
            result = await session.call_tool("http_fetch", {"url": site.url("/doc")})
            metadata = await session.call_tool("http_fetch", {"url": "http://169.254.169.254/"})
    assert result.is_error and "loopback" in result_text(result)
    assert metadata.is_error and "metadata" in result_text(metadata)
    assert site.seen == []


async def test_web_search_uses_the_environment_and_explains_when_unset() -> None:
    brave = {"web": {"results": [{"title": "T", "url": "https://t.example/", "description": "d"}]}}
    with local_site(
        {"/res/v1/web/search": page(json.dumps(brave).encode(), "application/json")}
    ) as site:
        env = {
            "IRONCURTAIN_WEB_SEARCH_PROVIDER": "brave",
            "IRONCURTAIN_WEB_SEARCH_API_KEY": "k-123",
            "IRONCURTAIN_WEB_SEARCH_BASE_URL": site.url("").rstrip("/"),
        }
        async with stdio_session(["fetch", "--allow-private-addresses"], env=env) as session:
            found = await session.call_tool("web_search", {"query": "t", "count": 3})
        unset = {key: "" for key in env}
        async with stdio_session(["fetch"], env=unset) as session:
            missing = await session.call_tool("web_search", {"query": "t"})
    assert not found.is_error
    assert found.structured_content["results"] == [
        {"title": "T", "url": "https://t.example/", "snippet": "d"}
    ]
    assert site.seen[0].headers["X-Subscription-Token"] == "k-123"
    assert missing.is_error and "ironcurtain config set webSearch.provider" in result_text(missing)


def test_the_test_flag_prints_a_warning() -> None:
    cmd = [sys.executable, "-m", "appliance.cli", "serve", "fetch", "--allow-private-addresses"]
    done = subprocess.run(cmd, input=b"", capture_output=True, timeout=30, cwd=HERE.parents[1])
    assert done.returncode == 0
    assert b"WARNING: --allow-private-addresses" in done.stderr
    quiet = subprocess.run(
        cmd[:-1], input=b"", capture_output=True, timeout=30, cwd=HERE.parents[1]
    )
    assert quiet.stderr == b""


def test_the_search_base_url_override_prints_a_warning() -> None:
    cmd = [sys.executable, "-m", "appliance.cli", "serve", "fetch"]
    env = {**os.environ, "IRONCURTAIN_WEB_SEARCH_BASE_URL": "http://127.0.0.1:1"}
    done = subprocess.run(
        cmd, input=b"", capture_output=True, timeout=30, cwd=HERE.parents[1], env=env
    )
    assert b"WARNING: IRONCURTAIN_WEB_SEARCH_BASE_URL is set" in done.stderr
    assert b"http://127.0.0.1:1" in done.stderr


def test_start_up_imports_no_http_client_or_html_converter() -> None:
    """The handshake must not pay for httpcore, bs4 or markdownify (~0.6 s): handlers load them."""
    probe = (
        "import sys; from servers.fetch import build_server; "
        "from servers.fetch.settings import FetchSettings; build_server(FetchSettings()); "
        "print(sorted(m for m in ('httpcore', 'httpx', 'bs4', 'markdownify', 'mcp') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, timeout=30, cwd=HERE.parents[1]
    )
    assert done.stdout.strip() == b"[]", done.stderr
