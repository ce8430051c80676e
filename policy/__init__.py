"""The deterministic policy engine: pure functions over frozen models.

``evaluate(call, policy, context) -> Decision`` decides allow, deny or escalate for one tool
call. This package does no I/O beyond the path resolver injected through the context, reads no
environment and keeps no global state. It never imports ``appliance`` or ``servers``.

Modules: ``models`` (files, call, context, decision, errors), ``loader`` (``load_policy``,
``Policy``), ``engine`` (``evaluate``), ``roles`` (arguments → role values, ``extract_roles``),
``rules`` (rules compiled per tool and role), ``paths`` (resolution, protected patterns),
``domains`` (hosts and patterns), ``scenarios`` (test-scenarios.json replay), ``schema``
(argument schemas). Formats and semantics: docs/policy-format.md.
"""
