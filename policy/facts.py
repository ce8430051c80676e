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


# A RoleFact's fields, in order, as a plain tuple: the engine stores these (a plain tuple costs a
# fraction of a named one to make, and it makes one per value of every decision); readers get
# RoleFacts from ``CallFacts.values``.
Row = tuple[str, ValueKind, str | None, str, str | None, str | None]


class CallFacts(NamedTuple):
    """Every role value of one call, in argument order (a value with two roles appears twice).

    Tuples all the way down: immutable, and cheap enough for the engine to build one for every
    decision, since most decisions are allowed and read only by the audit."""

    rows: tuple[Row, ...] = ()

    @property
    def values(self) -> tuple[RoleFact, ...]:
        return tuple(map(RoleFact._make, self.rows))

    def roles(self) -> tuple[str, ...]:
        """The call's roles, each once, in the order they first appear."""
        return tuple(dict.fromkeys(row[0] for row in self.rows))

    def of(self, role: str) -> tuple[RoleFact, ...]:
        return tuple(RoleFact._make(row) for row in self.rows if row[0] == role)

    def by_role(self) -> Mapping[str, tuple[RoleFact, ...]]:
        grouped: dict[str, list[RoleFact]] = {}
        for fact in self.values:
            grouped.setdefault(fact.role, []).append(fact)
        return MappingProxyType({role: tuple(facts) for role, facts in grouped.items()})

    def resolved(self) -> dict[str, list[str]]:
        """role -> what the engine read from its values beyond the text: each path's resolved
        form, each URL's host (for the audit record; roles with neither are left out)."""
        found: dict[str, list[str]] = {}
        for role, kind, _, _, real, host in self.rows:
            established = real if kind == "path" else host
            if established is not None:
                values = found.setdefault(role, [])
                if established not in values:
                    values.append(established)
        return found
