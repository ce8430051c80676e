"""Every bound on what the agent can make the proxy hold, in one place (docs/credential-proxy.md).

The agent controls every byte it sends through the proxy, so each of these is a ceiling on host
memory or file descriptors that it cannot raise:

- ``MAX_CONNECTIONS`` connections on the container's socket at once (``relay.py``);
- ``MAX_BODY_BYTES``, one body, request or response (mitmproxy's ``body_size_limit``: 413/502);
- ``MAX_INFLIGHT_BODY_BYTES``, every body the proxy holds at once, across all flows, counted as
  the bytes arrive and from a Content-Length as soon as the headers are read (``inflight.py``):
  a request that would go over is answered 503 and its body is read and dropped, not kept;
- ``MAX_UNPARSED_CLIENT_BYTES``, bytes a client connection sent that are not yet part of a
  message (an endless header block, data after a body while its answer is awaited): over it the
  connection is cut.

The first two and the third are `ProxyConfig` fields whose defaults are these values.
"""

from __future__ import annotations

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_INFLIGHT_BODY_BYTES",
    "MAX_UNPARSED_CLIENT_BYTES",
    "MiB",
]

MiB = 1024 * 1024
MAX_CONNECTIONS = 64
MAX_BODY_BYTES = 32 * MiB  # Anthropic's own request limit is 32 MB
MAX_INFLIGHT_BODY_BYTES = 128 * MiB  # four requests of the largest size at once
MAX_UNPARSED_CLIENT_BYTES = 1 * MiB  # a request head is a few KiB; one read is 64 KiB
