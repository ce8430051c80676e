"""The real key must not come back: a response that carries it is cut, not delivered.

Providers do not echo keys, but an upstream error page, a debugging proxy or a compromised
endpoint could; the container must never see the key in any case. Headers and whole bodies are
searched; an event stream is searched chunk by chunk, holding back any chunk tail that could be
the start of a key, so a key split across chunks is caught before any part of it is delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from appliance.credproxy.addons.base import Reporter, cut_connection, fail_closed, kill, settled

__all__ = ["KeyEchoGuard"]


class KeyEchoGuard:
    """``more`` gives secrets that change during the session (a subscription's tokens, which
    are refreshed): read at each search, so a refreshed token is guarded from its first use."""

    def __init__(
        self,
        real_keys: dict[str, SecretStr],
        reporter: Reporter,
        more: Callable[[], tuple[str, ...]] | None = None,
    ) -> None:
        self._static = tuple(k.get_secret_value().encode() for k in real_keys.values())
        self._more = more
        self.reporter = reporter

    @property
    def secrets(self) -> tuple[bytes, ...]:
        if self._more is None:
            return self._static
        return self._static + tuple(s.encode() for s in self._more() if s)

    def _found(self, data: bytes) -> bool:
        return any(secret in data for secret in self.secrets)

    @fail_closed
    def responseheaders(self, flow: Any) -> None:
        if settled(flow):
            return
        raw = b"\n".join(k + b": " + v for k, v in flow.response.headers.fields)
        if self._found(raw):
            kill(flow, self.reporter, "key-echo", "the response carried the real key")
            return
        if flow.response.stream:
            encoding = flow.response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                # We asked for identity; a compressed stream could hide the key from the search.
                kill(flow, self.reporter, "key-echo", f"unsearchable {encoding} stream")
                return
            flow.response.stream = self._guard(flow, flow.response.stream)

    @fail_closed
    def response(self, flow: Any) -> None:
        if settled(flow) or flow.response.stream:
            return
        if self._found(flow.response.raw_content or b"") or self._found(
            flow.response.content or b""
        ):
            kill(flow, self.reporter, "key-echo", "the response carried the real key")

    def _guard(self, flow: Any, inner: Callable | bool) -> Callable[[bytes], Any]:
        state = {"held": b"", "cut": False}
        passthrough: Callable[[bytes], Any] = inner if callable(inner) else (lambda b: b)

        def stream(chunk: bytes) -> bytes:
            if state["cut"]:
                return b""
            data = state["held"] + chunk
            if self._found(data):
                state["cut"] = True
                cut_connection(flow)
                self.reporter.emit_quietly(
                    flow, "killed", rule="key-echo", reason="the response carried the real key"
                )
                return b""
            if not chunk:  # end of body: what was held back was not a key after all
                state["held"] = b""
                return _join(passthrough(data) if data else b"", passthrough(b""))
            keep = self._key_prefix_at_end(data)
            state["held"] = data[len(data) - keep :] if keep else b""
            return _join(passthrough(data[: len(data) - keep]))

        return stream

    def _key_prefix_at_end(self, data: bytes) -> int:
        """Length of the longest tail of `data` that could be the start of a real key.

        Those bytes wait for the next chunk, so not even part of a key leaves. Event-stream chunks
        end in a newline, which starts no key: in practice nothing is held and streaming stays
        immediate.
        """
        longest = 0
        for secret in self.secrets:
            for n in range(min(len(secret) - 1, len(data)), longest, -1):
                if data.endswith(secret[:n]):
                    longest = n
                    break
        return longest


def _join(*parts: Any) -> bytes:
    out = b""
    for part in parts:
        out += part if isinstance(part, bytes) else b"".join(part)
    return out
