"""The chokepoint: the one place a tool call becomes an effect.

``trip`` runs a call through validation, the policy engine, escalation, the real MCP server and
the audit; ``server_pool`` holds the server processes; ``gate`` is the MCP front used by
``mcp-proxy`` and Docker mode; ``escalation`` asks humans; ``approvals``, ``audit`` and
``redact`` are the records; ``session_guard`` puts a session's policy state into them. After
the engine decides, every step reads the decision's facts (``Decision.facts``: the paths it
resolved, the hosts it read) and resolves nothing again; the chokepoint's settings arrive as
one section (``appliance.config.sections``). Every front (the sandbox bridge, the Docker gate
socket, ``mcp-proxy``) enters through ``trip``; nothing here may run code a server or the agent
wrote.

May import: ``policy.api``, ``servers.wire``, config, host, ``appliance.errors``; never a server
implementation (facts that need I/O come from a server's declared judge, over the wire), never
the sandbox; the agent only in ``escalation.auto_approver`` (the model's litellm name).
"""
