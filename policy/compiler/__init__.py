"""The constitution compiler: plain-English intent → the rules, annotations, lists and scenarios
the engine enforces, proven against scenarios before they replace the active policy.

One module per stage (``annotate``, ``rules``, ``lists``, ``scenarios``, ``verify``), each cached
by the SHA-256 of its inputs (``cache``); ``pipeline`` runs them and installs the result with an
atomic swap. The LLM is passed in (``llm.LLM``); this package never imports ``appliance`` and never
lets an LLM answer reach the policy folder without validation and verification.
Error tree: ``CompileError`` (stage, server, message), raised for every failure.
"""
