"""Stage 3: every ``@list`` the rules name, resolved from the LLM's knowledge into values.

The user's ``manualAdditions`` and ``manualRemovals`` from the previous ``dynamic-lists.json``
are carried over untouched: a refresh replaces only ``values``. Each value is checked for its
match type (a domain pattern, an e-mail address, an identifier) so a stray sentence or a URL
never becomes an allowed host. Cached per list by the digest of its name, type and constitution.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping

from pydantic import BaseModel, ConfigDict

from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.models import DynamicList

__all__ = ["resolve_lists"]

SYSTEM = """You resolve a named list used by a security policy into concrete values.
Answer with one JSON object only: {"values": [...]}. For match type "domains" give host names or
"*.example.com" patterns (no schemes, no paths, no IP addresses); for "emails" e-mail addresses;
for "identifiers" plain names. List only values that clearly belong."""

_CHECKS = {
    "domains": re.compile(r"(\*\.)?([a-z0-9-]+\.)+[a-z]{2,}"),
    "emails": re.compile(r"[^@\s]+@([a-z0-9-]+\.)+[a-z]{2,}"),
    "identifiers": re.compile(r"[\w.-]+"),
}


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    values: tuple[str, ...]


def resolve_lists(
    references: Mapping[str, str],
    constitution: str,
    previous: Mapping[str, DynamicList],
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
    refresh: Collection[str] = (),
) -> dict[str, DynamicList]:
    """``references``: list name → match type. ``refresh``: names to ask again despite the cache."""
    out: dict[str, DynamicList] = {}
    for name, kind in sorted(references.items()):
        key = digest_of("lists", name, kind, constitution)
        cached = None if name in refresh else cache.get("lists", key)
        if cached is None:
            progress(f"lists     @{name}: asking the LLM")
            values = _ask(name, kind, constitution, llm)
            cache.put("lists", key, list(values))
        else:
            progress(f"lists     @{name}: cached")
            values = tuple(cached)
        old = previous.get(name, DynamicList())
        out[name] = DynamicList(
            values=values,
            manualAdditions=old.manual_additions,
            manualRemovals=old.manual_removals,
            type=kind,  # type: ignore[arg-type]  # checked by the rule's own model
            inputHash=key,
        )
    return out


def _ask(name: str, kind: str, constitution: str, llm: LLM) -> tuple[str, ...]:
    prompt = f"List: @{name}\nMatch type: {kind}\nConstitution:\n{constitution}"
    answer = ask_json(llm, SYSTEM, prompt, _Answer, "lists", f"@{name}")
    check = _CHECKS[kind]
    values = tuple(
        dict.fromkeys(
            v.strip().lower() if kind != "identifiers" else v.strip() for v in answer.values
        )
    )
    for value in values:
        if not check.fullmatch(value):
            raise CompileError("lists", f"value {value!r} is not a valid {kind} entry", f"@{name}")
    if not values:
        raise CompileError("lists", "the LLM gave no values", f"@{name}")
    return values
