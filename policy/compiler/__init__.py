"""The constitution compiler: plain-English intent → the rules, annotations, lists and scenarios
the engine enforces, proven against scenarios before they replace the active policy.

Stages, one module each: ``annotate``, ``rules``, ``lists``, ``scenarios``, ``verify`` (with the
judge), each cached by the SHA-256 of its inputs (``cache``); ``pipeline`` runs them, ``artifacts``
shapes the files and ``install`` swaps them in atomically; ``reannotate`` is ``annotate-tools``
alone, ``customize`` drafts ``constitution-user.md``. LLM-free tools: ``diff`` and ``replay``.
The LLM is passed in (``llm.LLM``). This package never imports ``appliance``, never lets an LLM
answer reach the policy folder unvalidated and unverified, and never edits ``invariants.json``.
Every failure is a ``CompileError`` (stage, server, message).

May import: the pure core (``policy``), the standard library, pydantic, and litellm in ``llm``
only. Outsiders import ``policy.compiler.api``.
"""
