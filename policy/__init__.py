"""The deterministic policy engine: pure functions over frozen models.

``evaluate(call, policy, context) -> Decision`` decides allow, deny or escalate for one tool
call. This package does no I/O beyond the path resolver injected through the context, reads no
environment and keeps no global state. It never imports ``appliance`` or ``servers``. The
constitution compiler (``policy.compiler``) is apart from this pure core: it reads and writes
files and calls an LLM, and the core never imports it.

Modules: ``models`` (files, call, context, decision, errors), ``loader`` (``load_policy``,
``Policy``), ``engine`` (``evaluate``), ``facts`` (what a decision established: role values,
resolved paths, hosts), ``roles`` (arguments → role values, ``extract_roles``),
``rules`` (rules compiled per tool and role), ``paths`` (resolution, protected patterns),
``domains`` (hosts and patterns), ``scenarios`` (test-scenarios.json replay), ``schema``
(argument schemas); session-aware policy: ``session_state`` (state, conditions, updates),
``session_policy`` (``evaluate_in_session``), ``session_run`` (a session's steps),
``task_grants``, ``provenance``. Formats and semantics: docs/policy-format.md.

May import: the standard library and pydantic only; the core never imports ``policy.compiler``.
Outsiders import ``policy.api`` (the façade), never these modules.
"""
