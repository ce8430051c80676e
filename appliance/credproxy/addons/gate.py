"""Where a request may go: allowed provider hosts on 443, over HTTPS, to the allowed routes."""

from __future__ import annotations

from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    fail_closed,
    is_package,
    passed,
    provider_of,
    request_facts,
    set_provider,
    settled,
)
from appliance.credproxy.checks import Denial, check_body, check_destination, check_route

__all__ = ["Gate"]


class Gate:
    def __init__(self, allowed: tuple[str, ...], reporter: Reporter) -> None:
        self.allowed = allowed
        self.reporter = reporter

    @fail_closed
    def http_connect(self, flow: Any) -> None:
        """Refuse the tunnel itself: a non-allowed host never gets a TLS handshake from us."""
        if is_package(flow):  # a registry's tunnel: the package gate's (addons/packages.py)
            return
        verdict = check_destination(flow.request.host, flow.request.port, self.allowed)
        if isinstance(verdict, Denial):
            deny(flow, self.reporter, verdict, None)

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        if is_package(flow):
            return
        verdict = check_destination(flow.request.host, flow.request.port, self.allowed)
        if isinstance(verdict, Denial):
            deny(flow, self.reporter, verdict, None)
            return
        set_provider(flow, verdict)
        denial = check_route(verdict, request_facts(flow))
        if denial is not None:
            deny(flow, self.reporter, denial, verdict)
            return
        # The authority was checked equal to the tunnel's host: send origin form upstream, so the
        # provider's edge reads the target from one place only.
        flow.request.authority = ""
        passed(flow, "gate")

    @fail_closed
    def request(self, flow: Any) -> None:
        """The body asks the provider to contact no other host (no server-side fetching tools,
        no content by URL). A compressed body is left unpassed: the budget refuses it."""
        provider = provider_of(flow)
        if settled(flow) or is_package(flow) or provider is None:
            return
        if flow.request.headers.get("content-encoding", "identity").strip().lower() != "identity":
            return
        denial = check_body(provider, flow.request.raw_content or b"")
        if denial is not None:
            deny(flow, self.reporter, denial, provider)
            return
        passed(flow, "body")
