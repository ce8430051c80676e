"""What the engine established about a call while deciding it, handed back with the decision.

Each value the tool's annotation gives a role becomes one :class:`RoleFact`: the value as the
agent wrote it, where it sits in the arguments, what kind of value it is, and what the engine
read from it: for a path, its resolved form (``~`` expanded, made absolute against the server's
base, symlinks resolved: the form every rule compared); for a URL, the host
:func:`policy.domains.host_of` reads. The stages after the decision (the server-roots check,
"approve similar", the approver's view, the audit) read these facts instead of extracting,
resolving or parsing again, so what a human approves is exactly what the engine judged.

Pure data, frozen: built once per decision by ``policy.engine`` and never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

__all__ = ["CallFacts", "RoleFact", "ValueKind"]

# What one value is: a role's kind (policy.role_specs), except that a text role extracting URLs
# or e-mail addresses contributes one "url" or "email" value per item found.
ValueKind = Literal["path", "url", "email", "identifier", "number", "text", "opaque"]


class RoleFact(NamedTuple):
    role: str
    kind: ValueKind
    value: str | None  # as the agent wrote it; None: the argument was left out (unknown)
    where: str  # the argument path, "files[1].path"
    # path values: the resolved absolute path, when the engine resolved it (a call denied
    # before its paths were looked at has None here)
    real: str | None = None
    # URL values: the host, lower case (an IP literal in canonical form); None when unclear
    host: str | None = None


class CallFacts(NamedTuple):
    """Every role value of one call, in argument order (a value with two roles appears twice).

    A tuple, like each fact in it: immutable, and made in a fraction of a microsecond (the
    engine builds one per decision)."""

    values: tuple[RoleFact, ...] = ()

    def roles(self) -> tuple[str, ...]:
        """The call's roles, each once, in the order they first appear."""
        return tuple(dict.fromkeys(fact.role for fact in self.values))

    def of(self, role: str) -> tuple[RoleFact, ...]:
        return tuple(fact for fact in self.values if fact.role == role)

    def by_role(self) -> Mapping[str, tuple[RoleFact, ...]]:
        grouped: dict[str, list[RoleFact]] = {}
        for fact in self.values:
            grouped.setdefault(fact.role, []).append(fact)
        return MappingProxyType({role: tuple(facts) for role, facts in grouped.items()})

    def resolved(self) -> dict[str, list[str]]:
        """role -> what the engine read from its values beyond the text: each path's resolved
        form, each URL's host (for the audit record; roles with neither are left out)."""
        found: dict[str, list[str]] = {}
        for fact in self.values:
            established = fact.real if fact.kind == "path" else fact.host
            if established is not None:
                values = found.setdefault(fact.role, [])
                if established not in values:
                    values.append(established)
        return found
