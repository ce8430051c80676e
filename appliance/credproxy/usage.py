"""Token usage read from provider responses: whole JSON bodies and server-sent event streams.

Pure functions over bytes, no mitmproxy. Anthropic reports ``usage`` in a message and, when
streaming, in ``message_start`` (input) and ``message_delta`` (cumulative output); OpenAI in
``usage`` (chat: prompt/completion, responses: input/output; streamed as the last chunk or in
``response.completed``); Google in ``usageMetadata`` (cumulative per streamed chunk).
"""

from __future__ import annotations

import json
from typing import Any

from appliance.credproxy.events import TokenUsage

__all__ = [
    "BYTES_PER_TOKEN",
    "DEFAULT_MAX_OUTPUT",
    "SseUsageScanner",
    "estimate_request",
    "usage_from_json",
]

# A line longer than this is not parsed (still passed through); usage lines are short.
_MAX_LINE = 4 * 1024 * 1024


# A request's input is reserved at this many bytes per token: tokenizers give 3-4 bytes per token
# for prose and code, fewer for unusual text; counting JSON syntax as text keeps this above what a
# provider bills for text (images are over-counted, which only reserves too much).
BYTES_PER_TOKEN = 2
# Reserved for the output when a request names no limit of its own (Anthropic requires one).
DEFAULT_MAX_OUTPUT = 8192
_MAX_OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def estimate_request(body: bytes) -> tuple[int, int]:
    """(input tokens, output tokens) a request may cost at most, from its bytes and its own
    output limit; for a reservation made before the provider answers."""
    input_tokens = -(-len(body) // BYTES_PER_TOKEN)
    try:
        message = json.loads(body) if len(body) <= 64 * 1024 * 1024 else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        message = None
    limit = DEFAULT_MAX_OUTPUT
    if isinstance(message, dict):
        config = message.get("generationConfig")
        holders = [message, config] if isinstance(config, dict) else [message]
        for holder in holders:
            for name in (*_MAX_OUTPUT_FIELDS, "maxOutputTokens"):
                value = holder.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    limit = value
    return input_tokens, limit


def usage_from_json(body: bytes) -> TokenUsage | None:
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return _merge(None, message) if isinstance(message, dict) else None


def _merge(current: TokenUsage | None, message: dict[str, Any]) -> TokenUsage | None:
    """Fold one JSON message (a body or an SSE event) into the usage seen so far."""
    if message.get("type") == "message_start" and isinstance(message.get("message"), dict):
        return _merge(current, message["message"])
    if message.get("type") == "response.completed" and isinstance(message.get("response"), dict):
        return _merge(current, message["response"])
    usage = message.get("usage") or message.get("usageMetadata")
    model = message.get("model") or message.get("modelVersion")
    if not isinstance(usage, dict):
        if current is not None and isinstance(model, str) and current.model is None:
            return current.model_copy(update={"model": model})
        return current
    fields = _fields(usage)
    base = current or TokenUsage()
    # Streams report running totals, never increments: a later number replaces an earlier one.
    update = {k: v for k, v in fields.items() if v is not None}
    if isinstance(model, str):
        update["model"] = model
    return base.model_copy(update=update)


def _fields(usage: dict[str, Any]) -> dict[str, int | None]:
    def num(*names: str) -> int | None:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return None

    return {
        "input_tokens": num("input_tokens", "prompt_tokens", "promptTokenCount"),
        "output_tokens": num("output_tokens", "completion_tokens", "candidatesTokenCount"),
        "cache_creation_input_tokens": num("cache_creation_input_tokens"),
        "cache_read_input_tokens": num("cache_read_input_tokens"),
    }


class SseUsageScanner:
    """Watches an event stream go by, chunk by chunk, and keeps the latest usage totals.

    It never changes or holds back a byte: `feed` only reads. Lines are split on LF (CRLF ends
    with LF too); only ``data:`` lines are parsed.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._skipping = False  # inside an over-long line
        self.usage: TokenUsage | None = None

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        while (end := self._pending.find(b"\n")) >= 0:
            line = bytes(self._pending[:end])
            del self._pending[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            self._line(line.rstrip(b"\r"))
        if len(self._pending) > _MAX_LINE:
            self._pending.clear()
            self._skipping = True

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        data = line[5:].strip()
        if not data.startswith(b"{"):
            return  # "[DONE]" and friends
        try:
            message = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(message, dict):
            self.usage = _merge(self.usage, message)
