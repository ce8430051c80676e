"""The deterministic policy engine: pure functions over frozen models.

``evaluate(call, policy, context) -> Decision`` decides allow, deny or escalate for one tool
call. This package does no I/O beyond the path resolver injected through the context, reads no
environment and keeps no global state. It never imports ``appliance`` or ``servers``.
"""
