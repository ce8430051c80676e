"""Host facilities shared by the appliance's parts: atomic file writes, process liveness, the
frozen bundle's view of itself, and the workspace check (which folders may be given to an agent).
Small, dependency-free, and never importing another appliance package.

May import: the standard library and ``appliance.errors`` only. ``runner`` is the host's named
runner for one-shot tools.
"""
