"""The builtin agent: the model loop (litellm), Code Mode's session assembly, its terminal and
its controls (Ctrl-C, budgets, ``/quit``).

The agent loop is untrusted-output territory: what the model writes goes to the sandbox, never to
the host. It reaches tools only through the sandbox and the chokepoint, never a server directly.

May import: config, session, sandbox, chokepoint, ``appliance.errors``; the only importer of
litellm besides the auto-approver and the compiler (``loop``).
"""
