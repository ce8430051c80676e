"""The remote-server vectors (tests/vectors/declared/remote.json), replayed against the real
parts: the declaration validator, the Streamable HTTP transport in front of a scripted endpoint
(through the server pool, as a session uses it), and a real SDK server behind a session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.chokepoint.server_pool import ServerCallError, ServerPool, ServerSpec
from appliance.config.servers import DeclaredServer
from appliance.config.settings import Config
from appliance.session.core import SessionOptions, open_session, remote_spec
from tests.declared.remote_helpers import sdk_remote
from tests.declared.scripted_remote import ScriptedRemote

VECTORS = Path(__file__).parents[1] / "vectors" / "declared"
DATA = json.loads((VECTORS / "remote.json").read_text())
POLICY = VECTORS / "remote-policy"
TOKEN = "Bearer vector-token-7c2e41"


def _cases(kind: str) -> list:
    return [pytest.param(c, id=c["description"][:60]) for c in DATA["cases"] if c["kind"] == kind]


def test_the_vector_file_is_well_formed() -> None:
    kinds = {c["kind"] for c in DATA["cases"]}
    assert kinds == {"declaration", "answer", "credential-echo"}
    for case in DATA["cases"]:
        assert set(case) == {"description", "kind", "input", "expect"}, case
        assert {"effect", "rule"} <= set(case["expect"]), case


@pytest.mark.parametrize("case", _cases("declaration"))
def test_declaration(case: dict) -> None:
    expect = case["expect"]
    if expect["effect"] == "accepted":
        assert DeclaredServer.model_validate(case["input"]).remote
        return
    with pytest.raises(ValueError) as refused:
        DeclaredServer.model_validate(case["input"])
    assert expect["message"] in str(refused.value), str(refused.value)


@pytest.mark.anyio
@pytest.mark.parametrize("case", _cases("answer"))
async def test_answer(case: dict) -> None:
    answer = dict(case["input"]["answer"])
    with ScriptedRemote() as target, ScriptedRemote(answer) as remote:
        location = answer.get("headers", {}).get("Location")
        if location == "REDIRECT_TARGET":
            answer["headers"] = {**answer["headers"], "Location": target.url}
        spec = ServerSpec("remote", url=remote.url, headers={"Authorization": TOKEN})
        async with ServerPool([spec], start_timeout_s=20) as pool:
            with pytest.raises(ServerCallError) as failed:
                await pool.call("remote", "probe", {})
        assert not target.seen, "a redirect was followed"
    detail = f"{failed.value}: {failed.value.__cause__}"
    assert case["expect"]["message"] in detail, detail
    assert all(seen.get("Authorization") == TOKEN for seen in remote.seen)


@pytest.mark.anyio
@pytest.mark.parametrize("case", _cases("credential-echo"))
async def test_credential_echo(case: dict, home, tmp_path: Path) -> None:
    headers = case["input"]["headers"]
    secret = headers["Authorization"]
    with sdk_remote(tmp_path) as server:
        spec = remote_spec("remote", DeclaredServer(url=server.url, headers=headers))
        options = SessionOptions(task="t", sandbox=tmp_path / "sb", policy_dir=POLICY)
        async with open_session(Config(), home, options, specs=[spec]) as session:
            outcome = await session.chokepoint.call("remote", case["input"]["tool"], {})
            audit = session.audit_path.read_text()
        assert server.received() == [secret]  # it reached its own server
    assert outcome.ok, outcome.text
    token = secret.split()[-1]
    for text in (outcome.text, json.dumps(outcome.structured), audit):
        assert secret not in text and token not in text
    assert case["expect"]["message"] in outcome.text
