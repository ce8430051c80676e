"""The addons one hook at a time, on mitmproxy's own test flows (`tflow`): fast and exact."""

from __future__ import annotations

# The addons' unit tests use mitmproxy's test factories, as mitmproxy's own tests do.
from mitmproxy import connection, http
from mitmproxy.proxy import server_hooks
from mitmproxy.test import tflow, tutils
from pydantic import SecretStr

from appliance.credproxy.addons.base import REQUIRED_CHECKS, Reporter, ledger
from appliance.credproxy.addons.budget import Budget
from appliance.credproxy.addons.echo import KeyEchoGuard
from appliance.credproxy.addons.gate import Gate
from appliance.credproxy.addons.keyswap import KeySwap
from appliance.credproxy.addons.metering import Metering
from appliance.credproxy.addons.seal import Seal

FAKE = "sk-ant-api03-" + "f" * 93 + "AA"
REAL = SecretStr("sk-ant-api03-the-real-one")
ALLOWED = ("anthropic",)


def chain(events: list, budget=lambda: None) -> list:
    reporter = Reporter(events.append)
    return [
        Gate(ALLOWED, reporter),
        Budget(budget, reporter),
        KeySwap({"anthropic": FAKE}, {"anthropic": REAL}, reporter),
        Metering(reporter),
        KeyEchoGuard({"anthropic": REAL}, reporter),
        Seal(ALLOWED, reporter),
    ]


def anthropic_flow(**headers: str) -> http.HTTPFlow:
    request = tutils.treq(
        host="api.anthropic.com",
        port=443,
        method=b"POST",
        scheme=b"https",
        path=b"/v1/messages",
        headers=http.Headers(host="api.anthropic.com", **headers),
        content=b"{}",
    )
    flow = tflow.tflow(req=request)
    flow.client_conn.sni = "api.anthropic.com"
    return flow


def run(addons: list, hook: str, flow: http.HTTPFlow) -> None:
    for addon in addons:
        if hasattr(addon, hook):
            getattr(addon, hook)(flow)


def test_full_chain_swaps_and_seals() -> None:
    events: list = []
    addons = chain(events)
    flow = anthropic_flow(x_api_key=FAKE, cookie="s=1")
    run(addons, "requestheaders", flow)
    run(addons, "request", flow)
    assert flow.error is None and flow.response is None
    assert flow.request.headers["x-api-key"] == REAL.get_secret_value()
    assert "cookie" not in flow.request.headers
    assert flow.request.headers["accept-encoding"] == "identity"
    assert ledger(flow) == REQUIRED_CHECKS | {"reserved", "body"}  # once the body is read
    assert [e.kind for e in events] == ["forwarded"]


def test_a_raising_check_kills_via_the_wrapper() -> None:
    events: list = []

    def broken() -> str | None:
        raise RuntimeError("boom")

    addons = chain(events, budget=broken)
    flow = anthropic_flow(x_api_key=FAKE)
    run(addons, "requestheaders", flow)
    assert flow.error is not None and flow.error.msg == flow.error.KILLED_MESSAGE
    assert "x-api-key" in flow.request.headers and flow.request.headers["x-api-key"] == FAKE
    assert [(e.kind, e.rule) for e in events] == [("killed", "hook-failed")]


def test_seal_kills_a_flow_whose_check_never_ran() -> None:
    events: list = []
    addons = [a for a in chain(events) if not isinstance(a, Budget)]  # as if its hook vanished
    flow = anthropic_flow(x_api_key=FAKE)
    run(addons, "requestheaders", flow)
    assert flow.error is not None
    assert [(e.kind, e.rule) for e in events] == [("killed", "unchecked")]
    assert "budget" in events[0].reason


def test_denied_flow_keeps_its_403_and_is_not_swapped() -> None:
    events: list = []
    addons = chain(events)
    flow = anthropic_flow(x_api_key="sk-ant-api03-other")
    run(addons, "requestheaders", flow)
    run(addons, "request", flow)
    assert flow.response.status_code == 403 and flow.error is None
    assert flow.request.headers["x-api-key"] == "sk-ant-api03-other"
    assert [(e.kind, e.rule) for e in events] == [("denied", "key-mismatch")]


def test_seal_refuses_upstream_connections_outside_the_allowlist() -> None:
    seal = Seal(ALLOWED, Reporter(lambda e: None))
    client = tflow.tclient_conn()
    for address, refused in [
        (("api.anthropic.com", 443), False),
        (("api.anthropic.com", 80), True),
        (("api.openai.com", 443), True),
        (("127.0.0.1", 443), True),
    ]:
        server = connection.Server(address=address)
        seal.server_connect(server_hooks.ServerConnectionHookData(server=server, client=client))
        assert (server.error is not None) == refused, address


def test_seal_cuts_raw_tcp() -> None:
    events: list = []
    flow = tflow.ttcpflow()
    Seal(ALLOWED, Reporter(events.append)).tcp_start(flow)
    assert flow.error is not None
    assert [e.rule for e in events] == ["not-http"]


def test_echo_guard_kills_a_body_with_the_real_key() -> None:
    events: list = []
    flow = anthropic_flow()
    flow.response = tutils.tresp(content=b'{"key": "' + REAL.get_secret_value().encode() + b'"}')
    KeyEchoGuard({"anthropic": REAL}, Reporter(events.append)).response(flow)
    assert flow.error is not None
    assert events[0].rule == "key-echo"
