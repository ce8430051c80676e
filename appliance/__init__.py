"""The trusted host of the IronCurtain appliance.

Everything an agent does leaves through this package: the CLI, configuration, sessions and the
agent loop, the chokepoint that mediates every tool call, escalation, the audit log, the
WebAssembly sandbox host and Docker mode with its credential proxy. It must never let a tool call
reach a server without a policy decision, and never fail open.

May import: ``policy.api``, ``policy.compiler.api``, ``servers.wire`` and its own packages;
never a server implementation, never a private ``policy`` module
(tests/architecture/boundary_rules.py; docs/architecture.md draws it).
"""

__version__ = "0.1.0"
