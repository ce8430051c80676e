"""A repository is data: the allowlist its own config must fit before git works in it.

Everything in a repository is written by whoever wrote the repository, and in this product
that is often the agent (a bare repository's ``config`` is an ordinary file in the sandbox).
So before any git command runs in a repository the server lists the repository's effective
config itself, and refuses the repository, naming the key, when any key lies outside the small
set the tools need (:data:`ALLOWED`). Keys that name a program (drivers, ``core.fsmonitor``,
``*.helper``, ``gpg.program``), a host file (``include.path``, ``blame.ignoreRevsFile``,
``core.excludesFile``, ``http.sslCAInfo``) or a remote the policy never judged
(``url.*.insteadOf``, ``remote.*.proxy``) are simply not in it: the allowlist does not need to
know them. The runner's fixed overrides and ``repoconfig``'s per-name overrides stay as a
second line behind it.

How the config is read, and why: ``git config --list --no-includes --show-scope -z`` run by the
runner with its scrubbed environment (no system or global config, no ``GIT_*`` inherited) and
its resource caps. Listing starts no program; ``--no-includes`` keeps git from opening any file
an ``include.path`` names (the include key itself is then refused); git's own parser sees the
files exactly as every later command will, which a parser of our own could disagree with. The
config files are size-checked first (:data:`MAX_CONFIG_BYTES`). Entries of scope ``command`` are
the runner's own ``-c`` list and are not the repository's.

This module is pure: the listing in, the refusal (or nothing) out.
"""

from __future__ import annotations

import re

from servers.wire.server import ToolError

__all__ = ["ALLOWED", "MAX_CONFIG_BYTES", "RepositoryRefused", "check_listing", "parse_scoped"]

MAX_CONFIG_BYTES = 64 * 1024

# (section, variable) for keys without a subsection, by git's case rules (both lowercase).
_PLAIN = frozenset(
    {
        ("core", "repositoryformatversion"),
        ("core", "bare"),
        ("core", "filemode"),
        ("core", "logallrefupdates"),
        ("core", "ignorecase"),
        ("core", "precomposeunicode"),
        ("core", "symlinks"),
        ("core", "worktree"),  # the runner always sets GIT_WORK_TREE; bare + worktree is refused
        ("core", "autocrlf"),
        ("core", "eol"),
        ("core", "safecrlf"),
        ("core", "abbrev"),
        ("extensions", "objectformat"),
        ("extensions", "worktreeconfig"),  # config.worktree is listed and checked like the rest
        ("extensions", "refstorage"),
        ("extensions", "noop"),
        ("user", "name"),
        ("user", "email"),
        ("init", "defaultbranch"),
        ("pull", "rebase"),
        ("pull", "ff"),
        ("merge", "ff"),
        ("fetch", "prune"),
    }
)
# (section, variable) for keys with a user-chosen subsection (remote.<name>.url, ...).
_NAMED = frozenset(
    {
        ("remote", "url"),
        ("remote", "pushurl"),
        ("remote", "fetch"),
        ("remote", "push"),
        ("remote", "tagopt"),
        ("remote", "prune"),
        ("branch", "remote"),
        ("branch", "merge"),
        ("branch", "rebase"),
        ("branch", "pushremote"),
        ("branch", "description"),
    }
)
ALLOWED = (_PLAIN, _NAMED)

_HOW_TO_ALLOW = (
    "a human can remove the key with `git config --unset` (or edit the file) after checking it"
)


class RepositoryRefused(ToolError):
    """The repository's own content is outside what the server accepts; says what and why."""


def parse_scoped(raw: str) -> list[tuple[str, str, str]]:
    """Entries of ``git config --list --show-scope -z``: (scope, key, value)."""
    fields = raw.split("\x00")
    if fields[-1] != "" or len(fields) % 2 != 1:
        raise RepositoryRefused("refused: git's config listing was cut or malformed")
    entries = []
    for scope, record in zip(fields[0:-1:2], fields[1:-1:2], strict=True):
        key, _, value = record.partition("\n")
        entries.append((scope, key, value))
    return entries


def _shape(key: str) -> tuple[str, str | None, str]:
    section, _, rest = key.partition(".")
    if "." not in rest:
        return section.lower(), None, rest.lower()
    sub, _, var = rest.rpartition(".")
    return section.lower(), sub, var.lower()


_SAFE_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")


def check_listing(entries: list[tuple[str, str, str]], where: str) -> None:
    """Raise :class:`RepositoryRefused` naming the first key (or value) outside the allowlist."""
    for scope, key, value in entries:
        if scope == "command":
            continue  # the runner's own -c list
        section, sub, var = _shape(key)
        allowed = (section, var) in (_PLAIN if sub is None else _NAMED)
        if not allowed:
            raise RepositoryRefused(
                f"refused: the repository {where} sets {key!r} ({scope} config), which the git "
                f"server does not accept (it accepts only core format keys, remote.*.url/"
                f"pushurl/fetch, branch.*, user.name/email and a few more; see "
                f"docs/servers-git.md); {_HOW_TO_ALLOW}"
            )
        if not _SAFE_VALUE.fullmatch(value):
            raise RepositoryRefused(
                f"refused: the repository {where} sets {key!r} to a value with control characters"
            )
