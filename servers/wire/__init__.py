"""MCP over stdio, the wire shared by the host and the servers: ``server`` (the servers' light
JSON-RPC core) and ``client`` (the host's client). Imports nothing from ``appliance``.

May import: the standard library, anyio and the two stdlib-only leaves ``policy.safe_json`` and
``policy.schema``; ``client`` is the named runner that starts servers.
"""
