"""The MCP servers shipped inside the appliance: filesystem, git, fetch.

Each is started by the host as ``ironcurtain serve NAME`` and speaks MCP over stdio
(``servers.wire.server``). They are the last line of defence if a policy is wrong, so each is
safe on its own against arguments an attacker chose. This package never imports ``appliance``.

May import: ``servers.wire`` (and the wire: ``policy.safe_json``, ``policy.schema``, stdlib-only
leaves); one server never another, except git's use of ``servers.fetch.addresses``.
"""
