"""tests/vectors/daemon_s17/console_paths_notices.json against a live console with one waiting
escalation: the console serves nothing outside its secret path, shows no text from its URL,
never writes its secret into the audit, and the escalation still waits after every vector."""

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
    (
        Path(__file__).parents[1] / "vectors" / "daemon_s17" / "console_paths_notices.json"
    ).read_text()
)["cases"]

pytestmark = pytest.mark.anyio


async def _send(client: httpx.AsyncClient, case: dict[str, Any], values: dict[str, str]):
    headers = {k: fill(v, values) for k, v in case.get("headers", {}).items()}
    url = values["origin"] + fill(case["path"], values)
    if case["method"] == "GET":
        return await client.get(url, headers=headers)
    form = {k: fill(v, values) for k, v in case["form"].items()}
    return await client.post(url, data=form, headers=headers)


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
async def test_console_vector_s17(rig: Rig, daemon: Daemon, case: dict[str, Any]) -> None:
    assert daemon.console is not None
    console = daemon.console
    secret = console.base.split("/")[2]
    verdicts: dict[str, Verdict] = {}

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
            "secret_prefix": secret[:-1],
            "secret": secret,
            "base": console.base,
            "origin": console.origin,
            "host": f"127.0.0.1:{console.port}",
            "digest": item.request.call_digest,
        }
        # the cookie is sent on every path here, as a program that got it elsewhere would
        cookie = {"Cookie": f"ironcurtain_console={console.token}"}
        headers = cookie if case.get("cookie", True) else {}
        async with httpx.AsyncClient(headers=headers) as client:
            reply = await _send(client, case, values)
        assert reply.status_code == case["status"], case["id"]
        for text in case.get("absent", []):
            assert text not in reply.text, text
        assert daemon.hub.pending() == [item], "the escalation still waits"
        records = daemon.hub.answers()
        assert not any(secret in json.dumps(r) for r in records), "the secret is not audited"
        if "audit" in case:
            (record,) = records
            assert record["outcome"] == "refused" and case["audit"] in record["reason"]
        else:
            assert records == []
        assert daemon.hub.answer("1", "deny", item.request.call_digest, "test").ok
    assert not verdicts["v"].approved
