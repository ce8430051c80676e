"""MCP over stdio, the wire shared by the host and the servers: ``server`` (the servers' light
JSON-RPC core) and ``client`` (the host's client). Imports nothing from ``appliance``.
"""
