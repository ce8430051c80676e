"""The package gate: the container installs packages from npm and PyPI through the proxy, under
the user's allow and deny lists and the age gate (``credproxy/packages.py`` holds the rules).

First in the chain. A request to a registry host is this addon's alone: the provider addons (gate,
budget, key swap, metering) leave a package flow untouched, and the seal requires this addon's
check instead of theirs. No key of ours travels: credential headers are removed, the registries
are public. Every decision is an event (``package``, audited): the package, the file, what was
allowed, refused or taken out of a listing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    fail_closed,
    is_package,
    mark_package,
    passed,
    settled,
)
from appliance.credproxy.checks import Denial, authority_host, has_control_character
from appliance.credproxy.packages import (
    NPM_FULL,
    PYPI_JSON,
    PackagePolicy,
    PackageRequest,
    filter_npm_document,
    filter_pypi_simple,
    parse_request,
)
from appliance.credproxy.providers import CREDENTIAL_HEADERS

__all__ = ["PACKAGE_CHECK", "PackageGate"]

PACKAGE_CHECK = "package"
# Questions open at once (defaultAction escalate): an agent that asks for hundreds of unlisted
# packages in parallel must not bury the user in questions. Beyond this, refused at once (not
# remembered: the same package can be asked about later).
MAX_OPEN_QUESTIONS = 16
_REQUEST = "ironcurtain.package.request"
_AGE_GATE = "ironcurtain.package.age-gate"


# Asks the user about an unlisted package (defaultAction escalate): (approved, who answered).
PackageAsker = Callable[[PackageRequest], Awaitable[tuple[bool, str]]]


class PackageGate:
    """``asker``: returns the current way to ask the user (None: nobody can be asked, and an
    unlisted package is refused); read per question, since the session that answers starts
    after the proxy."""

    def __init__(
        self,
        policy: PackagePolicy,
        reporter: Reporter,
        asker: Callable[[], PackageAsker | None] = lambda: None,
    ) -> None:
        self.policy = policy
        self.hosts = policy.hosts()
        self.reporter = reporter
        self.asker = asker
        # One question per package at a time: the listing and its downloads, or a client's
        # parallel fetches, wait for the same answer.
        self._asking: dict[tuple[str, str], asyncio.Future[tuple[bool, str]]] = {}

    def _ours(self, flow: Any) -> bool:
        return flow.request.host.lower().rstrip(".") in self.hosts

    @fail_closed
    def http_connect(self, flow: Any) -> None:
        if self._ours(flow):
            mark_package(flow, "tunnel")
            if flow.request.port != 443:
                deny(
                    flow, self.reporter, Denial("port-not-allowed", "registries on 443 only"), None
                )

    @fail_closed
    async def requestheaders(self, flow: Any) -> None:
        if not self._ours(flow) or settled(flow):  # settled: refused by the body budget
            return
        mark_package(flow, "request")
        request, host = flow.request, flow.request.host.lower().rstrip(".")
        problem = _transport_problem(flow, host)
        if problem is not None:
            self._refuse(flow, "registry-transport", problem)
            return
        parsed = parse_request(host, request.method, request.path)
        if isinstance(parsed, str):
            self._refuse(flow, "registry-route", parsed)
            return
        ruling = self.policy.rule_for(parsed)
        if ruling.ask:
            approved, by = await self._ask(parsed)
            answered = self.policy.rule_for(parsed)
            if not approved:
                rule, reason = (ruling.rule, ruling.reason) if answered.ask else (
                    answered.rule, answered.reason)  # fmt: skip
                self._refuse(flow, rule, f"{reason} ({by})", parsed)
                return
            ruling = answered
        if not ruling.allowed:
            self._refuse(flow, ruling.rule, ruling.reason, parsed)
            return
        if ruling.age_gate and parsed.kind == "file":
            reason = self.policy.check_file(parsed)
            if reason is not None:
                self._refuse(flow, "package-quarantined", reason, parsed)
                return
        for name in CREDENTIAL_HEADERS:  # public registries: nothing of ours, nothing of theirs
            request.headers.pop(name, None)
        if ruling.age_gate and parsed.kind == "listing":
            # The listing must carry publication times: npm's full document (the abbreviated one
            # has none), PyPI's JSON simple page (the HTML one has none). Uncompressed, whole.
            request.headers["accept"] = NPM_FULL if parsed.registry == "npm" else PYPI_JSON
            request.headers["accept-encoding"] = "identity"
        request.authority = ""  # checked equal to the tunnel's host: origin form upstream
        flow.metadata[_REQUEST] = parsed
        flow.metadata[_AGE_GATE] = ruling.age_gate
        passed(flow, PACKAGE_CHECK)

    async def _ask(self, parsed: PackageRequest) -> tuple[bool, str]:
        """The user's answer for ``parsed``'s package, asked once; remembered for the session.
        A failure to ask is a refusal (fail closed), and is remembered as one too."""
        key = (parsed.registry, parsed.package)
        pending = self._asking.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if len(self._asking) >= MAX_OPEN_QUESTIONS:
            return False, f"{MAX_OPEN_QUESTIONS} package questions are already open; ask later"
        future: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        try:
            asker = self.asker()
            if asker is None:
                answer = (False, "no one can be asked in this session")
            else:
                try:
                    answer = await asker(parsed)
                except Exception as exc:
                    answer = (False, f"asking failed: {type(exc).__name__}")
            self.policy.answer(parsed.registry, parsed.package, answer[0])
            future.set_result(answer)
            return answer
        finally:
            if not future.done():  # cancelled while asking: the waiters are refused
                future.set_result((False, "the question was withdrawn"))
            del self._asking[key]

    @fail_closed
    def responseheaders(self, flow: Any) -> None:
        if is_package(flow) and not settled(flow) and flow.metadata.get(_AGE_GATE):
            flow.response.stream = False  # a listing is filtered whole

    @fail_closed
    def response(self, flow: Any) -> None:
        if not is_package(flow) or settled(flow):
            return
        parsed: PackageRequest | None = flow.metadata.get(_REQUEST)
        if parsed is None:
            return
        gated = bool(flow.metadata.get(_AGE_GATE))
        status = flow.response.status_code
        if parsed.kind == "file" or status != 200 or not gated:
            self._report(flow, parsed, f"{parsed.kind} passed (status {status})")
            return
        try:
            removed = self._filter(flow, parsed)
        except (ValueError, UnicodeDecodeError) as exc:
            # A listing the age gate cannot read is not passed on unread: fail closed.
            self._replace(flow, parsed, f"the {parsed.registry} listing could not be read ({exc})")
            return
        note = f"listing passed; {len(removed)} too new taken out" if removed else "listing passed"
        if removed:
            note += f" ({', '.join(removed[:5])}{'...' if len(removed) > 5 else ''})"
        self._report(flow, parsed, note)

    def _filter(self, flow: Any, parsed: PackageRequest) -> list[str]:
        media = flow.response.headers.get("content-type", "").split(";")[0].strip().lower()
        body = flow.response.content or b""
        cutoff = self.policy.cutoff()
        if parsed.registry == "npm":
            if "json" not in media:
                raise ValueError(f"content type {media or 'none'}")
            content, times, removed = filter_npm_document(body, parsed.package, cutoff)
        else:
            if media != PYPI_JSON:
                raise ValueError(f"content type {media or 'none'}, not {PYPI_JSON}")
            content, times, removed = filter_pypi_simple(body, cutoff)
        self.policy.learn(parsed.registry, parsed.package, times)
        flow.response.content = content
        return removed

    def _refuse(
        self, flow: Any, rule: str, reason: str, parsed: PackageRequest | None = None
    ) -> None:
        what = f"{parsed.registry} package {parsed.package}: " if parsed is not None else ""
        deny(flow, self.reporter, Denial(rule, f"{what}{reason}"), None)

    def _replace(self, flow: Any, parsed: PackageRequest, reason: str) -> None:
        message = f"IronCurtain credential proxy: DENIED: {parsed.package}: {reason}"
        flow.response.status_code = 502
        flow.response.headers.clear()
        flow.response.headers["content-type"] = "application/json"
        flow.response.content = json.dumps({"error": message}).encode()
        self.reporter.emit_quietly(
            flow, "package", status=502, rule="package-unreadable", reason=reason[:300]
        )

    def _report(self, flow: Any, parsed: PackageRequest, note: str) -> None:
        version = f" {parsed.version}" if parsed.version else ""
        what = f"{parsed.package}{version}" if parsed.package else "archive index"
        self.reporter.emit(
            flow, "package", status=flow.response.status_code, rule="package-passed",
            reason=f"{parsed.registry} {what}: {note}",
        )  # fmt: skip


def _transport_problem(flow: Any, host: str) -> str | None:
    request = flow.request
    if request.scheme != "https" or request.port != 443:
        return "registries are reached over https on port 443 only"
    header = (request.host_header or "").lower().split(":")[0].rstrip(".")
    if header != host:
        return "the Host header does not match the connection"
    sni = getattr(getattr(flow, "client_conn", None), "sni", None)
    if sni is not None and sni.lower().rstrip(".") != host:
        return "the TLS server name does not match the connection"
    if request.authority and authority_host(request.authority) != host:
        # An absolute-form target naming another host: a server must read the target, not Host
        # (RFC 9112 3.2.2), and a CDN serving the registry may serve that host too.
        return "the request target names another host"
    if request.headers.get("upgrade"):
        return "protocol upgrades are not allowed"
    if has_control_character(request.headers.items(multi=True)):
        return "a header holds a control character"
    return None
