"""Streaming pass-through and token metering of provider responses.

Event streams are streamed (``flow.response.stream``) through a scanner that reads usage as the
bytes go by and changes none of them; whole JSON bodies are read once complete. Requests go out
with ``accept-encoding: identity`` so the scanner sees plain text, never gzip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    bare_path,
    cut_connection,
    denied,
    fail_closed,
    forwarded,
    is_package,
    logger,
    provider_of,
    settled,
)
from appliance.credproxy.usage import SseUsageScanner, usage_from_json

__all__ = ["Metering"]

_STREAMED = "ironcurtain.streamed"
_REPORTED = "ironcurtain.usage-reported"
_SCANNER = "ironcurtain.scanner"


class Metering:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        if not settled(flow) and not is_package(flow):
            flow.request.headers["accept-encoding"] = "identity"

    @fail_closed
    def request(self, flow: Any) -> None:
        """OpenAI streams report usage only when asked: ask, or the budget would be blind."""
        provider = provider_of(flow)
        if settled(flow) or provider is None or provider.name != "openai":
            return
        if bare_path(flow.request.path) != "/v1/chat/completions":
            return  # the responses API always reports usage
        try:
            body = json.loads(flow.request.content or b"")
        except ValueError:
            return  # not ours to judge: the provider will refuse it
        if not isinstance(body, dict) or body.get("stream") is not True:
            return
        options = body.get("stream_options")
        options = options if isinstance(options, dict) else {}
        if options.get("include_usage") is not True:
            body["stream_options"] = {**options, "include_usage": True}
            flow.request.content = json.dumps(body).encode()

    @fail_closed
    def responseheaders(self, flow: Any) -> None:
        if settled(flow) or is_package(flow):
            return
        media = flow.response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "text/event-stream":
            flow.metadata[_STREAMED] = True
            flow.response.stream = self._scanning_stream(flow)

    @fail_closed
    def response(self, flow: Any) -> None:
        if settled(flow) or is_package(flow) or flow.metadata.get(_STREAMED):
            return
        if flow.response.status_code // 100 != 2:
            # Provider errors cost nothing, but the operator needs them: a 401 here means the
            # real key is wrong, a 429 that the account is rate limited.
            self._report(flow, None, f"provider answered {flow.response.status_code}")
            return
        self._report(flow, usage_from_json(flow.response.content or b""))

    @fail_closed
    def error(self, flow: Any) -> None:
        """A forwarded exchange that ends without its response's end still cost something: say
        what was read, so the host charges it (budgets must not be dodged by hanging up)."""
        if denied(flow) or is_package(flow) or flow.metadata.get(_REPORTED) or not forwarded(flow):
            return
        flow.metadata[_REPORTED] = True
        scanner = flow.metadata.get(_SCANNER)
        usage = scanner.usage if scanner is not None else None
        status = flow.response.status_code if flow.response is not None else None
        reason = (flow.error.msg if flow.error is not None else "ended early")[:200]
        self.reporter.emit(flow, "cut", status=status, usage=usage, reason=reason)

    def _scanning_stream(self, flow: Any) -> Callable[[bytes], bytes]:
        scanner = SseUsageScanner()
        flow.metadata[_SCANNER] = scanner
        state = {"cut": False}

        def stream(chunk: bytes) -> bytes:
            # Called from inside mitmproxy's protocol layer, not as a hook: `fail_closed` does not
            # cover it, and an exception would leave the connection hanging. So: cut it ourselves.
            if state["cut"]:
                return b""
            try:
                if chunk:
                    scanner.feed(chunk)
                else:  # end of the body
                    self._report(flow, scanner.usage)
            except Exception:
                logger.exception("credential proxy: usage metering failed mid-stream")
                state["cut"] = True
                cut_connection(flow)
                self.reporter.emit_quietly(flow, "killed", rule="hook-failed", reason="metering")
                return b""
            return chunk

        return stream

    def _report(self, flow: Any, usage: Any, reason: str = "") -> None:
        flow.metadata[_REPORTED] = True
        if usage is None and not reason:
            reason = "no usage in the response"
        self.reporter.emit(
            flow, "usage", status=flow.response.status_code, usage=usage, reason=reason
        )
