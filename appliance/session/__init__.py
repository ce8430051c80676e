"""A session as one unit: its folder, servers, policy, audit log and chokepoint opened and closed
together (``core``), and its resource budgets (``budget``). Shared by Code Mode and Docker mode.

May import: chokepoint, config, host, ``policy.api``, ``servers.wire``; never the agent loop
(the agent imports the session).
"""
