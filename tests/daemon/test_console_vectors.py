"""tests/vectors/daemon/console.json against a live console with one waiting escalation: every
vector is refused with its status and audited with its reason, and the escalation still waits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from daemon_rig import Rig, fill, trequest

from appliance.chokepoint.escalation import Verdict
from appliance.daemon.run import Daemon

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "daemon" / "console.json").read_text()
)["cases"]

pytestmark = pytest.mark.anyio


async def _send(client: httpx.AsyncClient, case: dict[str, Any], values: dict[str, str]):
    headers = {k: fill(v, values) for k, v in case.get("headers", {}).items()}
    path = fill(case["path"], values)
    if case["method"] == "GET":
        return await client.get(path, headers=headers)
    if "raw_form" in case:
        body = fill(case["raw_form"], values)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await client.post(path, content=body, headers=headers)
    form = {k: fill(v, values) for k, v in case["form"].items()}
    return await client.post(path, data=form, headers=headers)


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
async def test_console_vector(rig: Rig, daemon: Daemon, case: dict[str, Any]) -> None:
    assert daemon.console is not None
    console = daemon.console
    verdicts: dict[str, Verdict] = {}
    other = trequest("zz", "sess-b", path="/home/u/other.txt")

    async def ask() -> None:
        verdicts["v"] = await rig.channels["sess-a"].ask(trequest("v1", "sess-a"))

    async with anyio.create_task_group() as group:
        group.start_soon(ask)
        with anyio.fail_after(5):
            while not daemon.hub.pending():
                await anyio.sleep(0.02)
        (item,) = daemon.hub.pending()
        values = {
            "token": console.token,
            "token_prefix": console.token[:-1],
            "origin": console.origin,
            "base": console.base,
            "host": f"127.0.0.1:{console.port}",
            "port": str(console.port),
            "digest": item.request.call_digest,
            "other_digest": other.call_digest,
        }
        cookies = {"ironcurtain_console": console.token} if case["cookie"] else {}
        async with httpx.AsyncClient(base_url=console.origin, cookies=cookies) as client:
            reply = await _send(client, case, values)
            assert reply.status_code == case["status"], case["id"]
            if case["status"] == 303:
                assert reply.headers["location"].startswith(console.base)
                shown = await client.get(reply.headers["location"])
                assert '<p id="notice"><strong>refused: ' in shown.text
        assert daemon.hub.pending() == [item], "the escalation still waits"
        (record,) = daemon.hub.answers()
        assert record["outcome"] == "refused" and case["audit"] in record["reason"]
        assert record["channel"] == "web-console"
        assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    assert not verdicts["v"].approved
