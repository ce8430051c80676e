"""No garbage collection while a new process imports what it runs with.

An import makes objects that live as long as the process (classes, functions, pydantic's
validators), and the collector, counting allocations, runs over them again and again while they
load: ~0.25 s of litellm's ~2 s import, ~25 ms of an ``ironcurtain exec``. So a new process
turns the collector off while it loads and, once loaded (:func:`loaded`), moves what the imports
made out of its sight (``gc.freeze``) and turns it back on: later collections, during a
session, scan only what the session makes. The cost is that cyclic garbage an import left
behind is never freed: a few objects, once per process.

Only a process's own entry (:func:`entered`: the ``ironcurtain`` command, the model worker)
does this; a caller of ``main()`` inside a running program (a test, ``demo`` printing its audit
trail) keeps its collector as it was.
"""

from __future__ import annotations

import gc

__all__ = ["ending", "entered", "loaded", "loading"]

_entry = False  # this process started at entered(): its imports are the process's own


def entered() -> None:
    """A new process's entry point: imports follow, no collection until :func:`loaded`."""
    global _entry
    _entry = True
    gc.disable()


def loading() -> None:
    """More imports follow (a command that loads its parts after its module): in a new process,
    no collection until :func:`loaded` again."""
    if _entry:
        gc.disable()


def loaded() -> None:
    """The imports are done: in a new process, freeze what they made and collect again."""
    if _entry:
        gc.freeze()
        gc.enable()


def ending() -> None:
    """The process ends next: spare the interpreter's shutdown a last collection over every
    object the imports and the command made (pydantic's models, wasmtime's bindings: 40-90 ms
    of a 0.4 s ``exec``; after litellm's import, millions of objects and 1.5-2.5 s). Frozen,
    they are skipped; nothing relies on a collection at exit (files and pipes are closed by
    their own context managers, the audit log is synced before each result returns)."""
    if _entry:
        gc.freeze()
