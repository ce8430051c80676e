"""What every addon shares: fail-closed hooks, the check ledger, denials and kills.

A flow records each check it passed in ``flow.metadata``; the seal lets a request go upstream only
when the ledger is complete. So a hook that was skipped, or whose exception mitmproxy swallowed
before `fail_closed` could see it, still cannot let a request through.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx, http

from appliance.credproxy.checks import Denial, RequestFacts
from appliance.credproxy.events import ProxyEvent
from appliance.credproxy.providers import CREDENTIAL_HEADERS, PROVIDERS, Provider

__all__ = [
    "REQUIRED_CHECKS",
    "Reporter",
    "bare_path",
    "cut_client",
    "cut_connection",
    "denied",
    "deny",
    "fail_closed",
    "forwarded",
    "is_package",
    "kill",
    "mark_forwarded",
    "mark_package",
    "passed",
    "provider_of",
    "request_facts",
    "settled",
    "strip_credentials",
]

logger = logging.getLogger("appliance.credproxy")

REQUIRED_CHECKS = frozenset({"gate", "budget", "key"})
_PASSED = "ironcurtain.passed"
_PROVIDER = "ironcurtain.provider"
_FACTS = "ironcurtain.facts"
_PACKAGE = "ironcurtain.package"


class Reporter:
    """Hands events to the host. If the host's callback raises, the exception propagates: a
    request whose audit entry could not be written must not be forwarded."""

    def __init__(self, on_event: Callable[[ProxyEvent], None]) -> None:
        self._on_event = on_event

    def emit(self, flow: Any, kind: str, **fields: Any) -> None:
        self._on_event(ProxyEvent(kind=kind, **_flow_fields(flow), **fields))

    def emit_quietly(self, flow: Any, kind: str, **fields: Any) -> None:
        """For the failure path: reporting must not stop the kill."""
        try:
            self.emit(flow, kind, **fields)
        except Exception:
            logger.exception("credential proxy: could not report a %s event", kind)


def _flow_fields(flow: Any) -> dict[str, Any]:
    request = getattr(flow, "request", None)
    if request is None:  # TCP/UDP/DNS flows
        address = getattr(getattr(flow, "server_conn", None), "address", None) or ("?", 0)
        return {"flow_id": flow.id, "host": str(address[0]), "method": "-", "path": "-"}
    return {
        "flow_id": flow.id,
        "host": request.host,
        "method": request.method,
        "path": bare_path(request.path),
        "provider": flow.metadata.get(_PROVIDER),
    }


def fail_closed(hook: Callable) -> Callable:
    """Wrap a hook (plain or async) so that any exception kills the flow and is reported, never
    swallowed."""

    if inspect.iscoroutinefunction(hook):

        @functools.wraps(hook)
        async def waiting(self: Any, flow: Any) -> None:
            try:
                await hook(self, flow)
            except Exception:
                logger.exception(
                    "credential proxy: %s.%s failed", type(self).__name__, hook.__name__
                )
                kill(flow, self.reporter, "hook-failed", f"{type(self).__name__}.{hook.__name__}")

        return waiting

    @functools.wraps(hook)
    def wrapper(self: Any, flow: Any) -> None:
        try:
            hook(self, flow)
        except Exception:
            logger.exception("credential proxy: %s.%s failed", type(self).__name__, hook.__name__)
            kill(flow, self.reporter, "hook-failed", f"{type(self).__name__}.{hook.__name__}")

    return wrapper


def kill(flow: Any, reporter: Reporter, rule: str, reason: str) -> None:
    if flow.killable:
        flow.kill()
    else:  # already dead or not live: make sure it stays so
        flow.live = False
    reporter.emit_quietly(flow, "killed", rule=rule, reason=reason)


def cut_connection(flow: Any) -> None:
    """Close the client's connection now, from inside a streaming body callback.

    mitmproxy cannot kill a flow in transit (its own TODO, issue 4711), and an exception raised
    there leaves the connection hanging until a timeout. Cancelling the client's handler task is
    what mitmproxy itself does on an idle timeout: the connection closes at once.
    """
    if not cut_client(flow.client_conn.id):  # gone, or no proxy (unit tests): the kill stands
        logger.debug("credential proxy: no live connection to cut for flow %s", flow.id)


def cut_client(client_id: str) -> bool:
    """Close a client connection now (see `cut_connection`); False if there was none to cut."""
    io = _client_io(client_id)
    if io is None or io.handler is None:
        return False
    io.handler.cancel("IronCurtain credential proxy: connection cut")
    return True


def close_client_socket(client: Any) -> None:
    """Close a finished client connection's socket if mitmproxy left it open.

    mitmproxy closes a connection a hook killed by cancelling its handler; when the cancel lands
    while the handler is still inside the event it was processing (not at its next read), the
    handler ends without closing the socket, and the client waits for an answer that never comes
    (seen about once in 35 fresh proxies: a killed request hung until the client's timeout).
    Called when mitmproxy reports the client gone: whatever is still open is closed now.
    """
    io = _client_io(client.id)
    writer = io.writer if io is not None else None
    if writer is not None and not writer.is_closing():
        logger.debug("credential proxy: closing a client socket left open (%s)", client.id)
        writer.close()


def _client_io(client_id: str) -> Any:
    """mitmproxy's transport (handler task, reader, writer) of a client connection it still
    holds, or None (gone, or no proxy around: unit tests)."""
    master = getattr(ctx, "master", None)
    server = master.addons.get("proxyserver") if master is not None else None
    handler = server.connections.get(client_id) if server is not None else None
    return handler.transports.get(handler.client) if handler is not None else None


def mark_forwarded(flow: Any) -> None:
    flow.metadata["ironcurtain.forwarded"] = True


def forwarded(flow: Any) -> bool:
    """The request passed the seal and went (or was about to go) upstream."""
    return bool(flow.metadata.get("ironcurtain.forwarded"))


def passed(flow: Any, check: str) -> None:
    flow.metadata.setdefault(_PASSED, set()).add(check)


def ledger(flow: Any) -> frozenset[str]:
    return frozenset(flow.metadata.get(_PASSED, ()))


def is_package(flow: Any) -> bool:
    """A package-registry flow (``addons/packages.py``): the provider addons leave it alone."""
    return _PACKAGE in flow.metadata


def mark_package(flow: Any, what: str) -> None:
    flow.metadata[_PACKAGE] = what


def provider_of(flow: Any) -> Provider | None:
    name = flow.metadata.get(_PROVIDER)
    return PROVIDERS[name] if name else None


def set_provider(flow: Any, provider: Provider) -> None:
    flow.metadata[_PROVIDER] = provider.name


def deny(flow: Any, reporter: Reporter, denial: Denial, provider: Provider | None) -> None:
    """Answer the client ourselves; a flow with a proxy-made response never goes upstream."""
    message = f"IronCurtain credential proxy: DENIED: {denial.reason}"
    if provider is not None:
        body = json.dumps(provider.error_body(message)).encode()
        headers = {"content-type": "application/json"}
    else:
        body, headers = message.encode() + b"\n", {"content-type": "text/plain"}
    flow.response = http.Response.make(denial.status, body, headers)
    flow.metadata["ironcurtain.denied"] = denial.rule
    reporter.emit(flow, "denied", status=denial.status, rule=denial.rule, reason=denial.reason)


def denied(flow: Any) -> bool:
    return "ironcurtain.denied" in flow.metadata


def settled(flow: Any) -> bool:
    """Already answered by the proxy or killed: later addons leave such a flow alone."""
    return denied(flow) or flow.error is not None


def bare_path(path: str) -> str:
    """The path without its query. Not `urlsplit`: it reads ``//x/v1/messages`` as host ``x``."""
    return path.partition("?")[0]


def request_facts(flow: Any) -> RequestFacts:
    """The request as the checks see it, built once per flow (the gate and the key check share it;
    nothing changes the request between them)."""
    cached = flow.metadata.get(_FACTS)
    if cached is not None:
        return cached
    request = flow.request
    # Straight from the raw fields, decoded as mitmproxy decodes them: the multidict views cost
    # more than every check together.
    headers = tuple(
        (k.decode("latin-1").lower(), v.decode("utf-8", "surrogateescape"))
        for k, v in request.headers.fields
    )
    facts = RequestFacts(
        method=request.method,
        scheme=request.scheme,
        host=request.host,
        port=request.port,
        path=bare_path(request.path),
        host_header=request.host_header,
        sni=flow.client_conn.sni,
        headers=headers,
        query=tuple(request.query.items(multi=True)) if "?" in request.path else (),
        authority=request.authority,
    )
    flow.metadata[_FACTS] = facts
    return facts


def strip_credentials(flow: Any) -> None:
    """Remove every credential header from the request, whatever its case or count (one pass
    over the raw fields), before the real credential is written."""
    headers = flow.request.headers
    headers.fields = tuple(
        (k, v) for k, v in headers.fields if k.decode("latin-1").lower() not in CREDENTIAL_HEADERS
    )
