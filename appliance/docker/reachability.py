"""Tell the operator at once when the provider cannot be reached, and end the session soon after.

Without this, an unreachable upstream (no network, a wrong gateway, DNS failing) looked like a
hung session: the agent retried with back-off for minutes, then printed mitmproxy's HTML 502 page.
The proxy reports an `error` event with no status for every exchange that never got a response;
the first one prints one line naming the host and the reason, and `UNREACHABLE_LIMIT` of them in
a row, with no answered exchange between, stop the session (exit 3) with the same words. A client
that hung up is not the provider's fault and does not count.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from appliance.chokepoint.redact import redact_text

__all__ = ["UNREACHABLE_LIMIT", "Reachability"]

UNREACHABLE_LIMIT = 3
_CLIENT_SIDE = ("client disconnected", "client closed")


def _say(text: str) -> None:
    print(f"ironcurtain: {text}", file=sys.stderr, flush=True)


class Reachability:
    """Fed every proxy event (the proxy's thread); `failed` holds the stop reason once set."""

    def __init__(self, *, limit: int = UNREACHABLE_LIMIT, say: Callable[[str], None] = _say):
        self._limit = limit
        self._say = say
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._told = False
        self.failed: str | None = None

    def on_event(self, event: Any) -> str | None:
        """Returns the reason to stop the session when this event makes it one."""
        if event.kind == "usage":  # the provider answered (even with an error status)
            with self._lock:
                self._in_a_row = 0
            return None
        if event.kind == "denied" and event.rule == "oauth-refresh-failed":
            # The subscription's token cannot be renewed: every later request would fail the
            # same way. Stop now, saying what to do (the reason names it; it holds no token).
            with self._lock:
                if self.failed is not None:
                    return None
                self.failed = f"the Claude subscription cannot be used: {event.reason[:300]}"
            self._say(self.failed)
            return self.failed
        if event.kind != "error" or event.status is not None:
            return None
        reason = redact_text(event.reason)[:200]
        if reason.lower().startswith(_CLIENT_SIDE):
            return None
        with self._lock:
            self._in_a_row += 1
            first, self._told = not self._told, True
            count = self._in_a_row
        if first:
            self._say(f"cannot reach {event.host}: {reason} (check this host's network, DNS or "
                      f"the provider endpoint; the session stops after {self._limit} failures "
                      "in a row)")  # fmt: skip
        if count >= self._limit and self.failed is None:
            self.failed = (f"the provider {event.host} is unreachable ({count} attempts in a row "
                           f"failed; last: {reason})")  # fmt: skip
            return self.failed
        return None
