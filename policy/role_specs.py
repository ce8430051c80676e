"""Argument roles as data: what a role's values are, and how rules compare them.

A role is named in ``tool-annotations.json``'s top-level ``"roles"`` object (beside
``"servers"``) with a ``kind`` (``path`` | ``url`` | ``identifier`` | ``number`` | ``text`` |
``opaque``), how its values ``match``, whether the sandbox discharges it (``sandboxSafe``, paths
only) and, for ``text`` roles, what to ``extract`` (``urls`` | ``emails``): the URLs or e-mail
addresses found in the text become the values the rules judge, so a domain rule sees where a
message body links to. The built-in roles are entries of the same table (:data:`BUILTIN_ROLES`),
so the engine asks the table, never a hard-coded list, what a role is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policy.facts import ValueKind

__all__ = [
    "BUILTIN_ROLES",
    "ROLE_NAME",
    "RoleSpec",
    "RoleTable",
    "extract_emails",
    "extract_urls",
]

Kind = Literal["path", "url", "identifier", "number", "text", "opaque"]
Match = Literal["exact", "case-insensitive", "glob", "domain", "cidr", "range"]
ROLE_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_DEFAULT_MATCH: dict[str, Match | None] = {
    "path": None,  # path containment, always
    "url": "domain",
    "identifier": "exact",
    "number": "range",
    "text": None,
    "opaque": None,
}
_ALLOWED_MATCH: dict[str, frozenset[str]] = {
    "path": frozenset(),
    "url": frozenset({"domain", "cidr"}),
    "identifier": frozenset({"exact", "case-insensitive", "glob"}),
    "number": frozenset({"range"}),
    "text": frozenset(),
    "opaque": frozenset(),
}


class RoleSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_alias=True)

    kind: Kind
    match: Match | None = None
    description: str = ""
    sandbox_safe: bool = Field(default=False, alias="sandboxSafe")
    extract: Literal["urls", "emails"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RoleSpec:
        if self.match is not None and self.match not in _ALLOWED_MATCH[self.kind]:
            allowed = sorted(_ALLOWED_MATCH[self.kind]) or ["(none)"]
            raise ValueError(f"match {self.match!r} does not fit kind {self.kind!r}: {allowed}")
        if self.sandbox_safe and self.kind != "path":
            raise ValueError("sandboxSafe applies only to roles of kind 'path'")
        if self.extract is not None and self.kind != "text":
            raise ValueError("extract applies only to roles of kind 'text'")
        return self

    @property
    def effective_match(self) -> Match | None:
        return self.match if self.match is not None else _DEFAULT_MATCH[self.kind]


def _spec(kind: Kind, description: str, **extra: object) -> RoleSpec:
    return RoleSpec.model_validate({"kind": kind, "description": description, **extra})


BUILTIN_ROLES: Mapping[str, RoleSpec] = {
    "read-path": _spec("path", "a file or folder the tool reads", sandboxSafe=True),
    "write-path": _spec("path", "a file or folder the tool writes", sandboxSafe=True),
    "delete-path": _spec("path", "a file or folder the tool deletes", sandboxSafe=True),
    "write-history": _spec("path", "a repository whose history the tool rewrites"),
    "delete-history": _spec("path", "a repository whose history the tool discards"),
    "fetch-url": _spec("url", "a URL the tool fetches"),
    "git-remote-url": _spec("url", "a git remote the tool contacts"),
    # compared as written, as IronCurtain does (A5); a rule may say "match": "folded"
    "github-owner": _spec("identifier", "a GitHub user or organisation", match="exact"),
    "github-repo": _spec("identifier", "a GitHub repository", match="exact"),
    # IronCurtain judges neither (not resource identifiers): opaque, never a default deny (A1)
    "branch-name": _spec("opaque", "a git branch or tag name"),
    "commit-message": _spec("opaque", "a commit message"),
    "text-urls": _spec("text", "the URLs found in a free text", extract="urls"),
    "text-emails": _spec("text", "the e-mail addresses found in a free text", extract="emails"),
    "none": _spec("opaque", "no security meaning"),
}


def _shipped_defaults() -> dict[str, RoleSpec]:
    """Declared roles every policy has (``policy/declared_roles.json``: IronCurtain's extra
    roles), so its annotation files load as they are; a policy may declare them differently."""
    from policy.role_defaults import default_declared_roles

    return {name: RoleSpec.model_validate(spec) for name, spec in default_declared_roles().items()}


_VALUE_KINDS: dict[str | None, ValueKind] = {"urls": "url", "emails": "email"}


class RoleTable:
    """The built-in roles, the shipped declared defaults and a policy's own declared roles,
    with the sets the engine asks about."""

    def __init__(self, declared: Mapping[str, RoleSpec] | None = None) -> None:
        declared = dict(declared or {})
        clash = sorted(set(declared) & set(BUILTIN_ROLES))
        if clash:
            raise ValueError(f"role {clash[0]!r} is built in and cannot be declared again")
        self.specs: dict[str, RoleSpec] = {**BUILTIN_ROLES, **_shipped_defaults(), **declared}
        kinds = {name: spec.kind for name, spec in self.specs.items()}
        self.path_roles = frozenset(n for n, k in kinds.items() if k == "path")
        self.sandbox_roles = frozenset(n for n, s in self.specs.items() if s.sandbox_safe)
        # Roles whose values are URLs: declared url roles and text roles extracting URLs.
        self.url_roles = frozenset(
            n for n, s in self.specs.items() if s.kind == "url" or s.extract == "urls"
        )
        self.number_roles = frozenset(n for n, k in kinds.items() if k == "number")
        # Values nothing judges: opaque roles and text roles that extract nothing.
        self.opaque_roles = frozenset(
            n
            for n, s in self.specs.items()
            if s.kind == "opaque" or (s.kind == "text" and not s.extract)
        )
        self.extracting = {n: s.extract for n, s in self.specs.items() if s.extract is not None}
        # role -> what each of its values is (policy.facts.ValueKind): the spec's kind, except
        # that a text role extracting URLs or e-mail addresses yields one URL or address a value
        self.value_kinds: dict[str, ValueKind] = {
            n: _VALUE_KINDS.get(s.extract, s.kind) for n, s in self.specs.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)


BUILTIN_TABLE = RoleTable()

# A URL with any scheme, or a bare host name a client would make clickable (``evil.com/x``):
# more is taken than a strict parser would, since a value no rule allows fails closed. Host
# labels and e-mail addresses may hold any letter, not only ASCII: a look-alike host written
# with a Cyrillic "і" (``rіverside-fc.com``) is a link too (mail clients and chat apps show it
# as one), and its unreadable host then matches no domain rule. So is one whose dots are
# ideographic or full-width (``evil。com``).
# The dots IDNA reads as a label separator: a browser opens "evil。com" as evil.com.
_DOT = "[.\u3002\uff0e\uff61]"
_URL = re.compile(
    r"""(?i)\b[a-z][a-z0-9+.-]*://[^\s<>"'`()\[\]{}]+"""
    rf"""|(?<![@\w.\u3002\uff0e\uff61-])(?:[^\W_](?:[\w-]*[^\W_])?{_DOT})+[^\W\d_]{{2,}}"""
    r"""(?::\d+)?(?:/[^\s<>"'`()\[\]{}]*)?"""
    r"""|(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/[^\s<>"'`()\[\]{}]*)?"""
)
_EMAIL = re.compile(rf"[\w.!#$%&'*+/=?^`{{|}}~-]+@[^\W_](?:[\w-]*[^\W_])?(?:{_DOT}[\w-]+)+")


def extract_urls(text: str) -> list[str]:
    """The URLs a reader (or a mail client) would make clickable in ``text``, in order.

    Trailing sentence punctuation is not part of a URL. A URL the domain parser cannot read
    still counts: it then matches no domain rule, which is the safe answer for a link."""
    found: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        if url and url not in found:
            found.append(url)
    return found


def extract_emails(text: str) -> list[str]:
    """The e-mail addresses in ``text``, in order, without repeats."""
    found: list[str] = []
    for match in _EMAIL.finditer(text):
        address = match.group(0).rstrip(".")
        if address not in found:
            found.append(address)
    return found
