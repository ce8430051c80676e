"""Configuration: where the appliance keeps its files (``paths``) and the settings model read
from ``config.json`` and the environment (``settings``), validated once at the boundary and
passed on explicitly. Nothing here starts processes or talks to the network.

May import: ``appliance.host``, ``appliance.errors``, pydantic, and ``appliance.confinement``
(the kernel probe behind the best-effort warning); never the chokepoint, the agent or a server.
"""
