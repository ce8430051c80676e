"""Turn what a repository's own config defines into overrides that switch it off.

A fixed ``-c`` list covers the settings with fixed names (``core.fsmonitor``, ...). Drivers and
per-remote or per-URL settings have names the repository chooses (``filter.<name>.clean``,
``merge.<name>.driver``, ``remote.<name>.uploadpack``, ``credential.<url>.helper``), so the
runner lists the repository's config (``git config --list -z``, includes followed; listing
runs nothing) and :func:`derive` answers one override per name found. The overrides travel as
``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>`` rather than ``-c key=value`` because a
subsection may itself contain ``=``, which ``-c`` would split at; both are command-line scope,
which git reads after the repository's files, so they win, and both reach git's children.

This module is pure: config entries in, overrides out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALLOWED_PROTOCOLS", "RepoConfig", "derive", "parse_listing"]

# Transports a remote may use. Everything else is refused by git itself (protocol.allow=never
# plus an explicit never for every protocol the repository names).
ALLOWED_PROTOCOLS = ("file", "https")


# http settings (also per URL as http.<url>.<name>) and the values that keep them harmless:
# certificates checked, no proxy or pinned address the policy never saw, no cookie file read
# or written.
_HTTP_SAFE = {
    "sslverify": "true",
    "proxy": "",
    "curloptresolve": "",
    "cookiefile": "",
    "savecookies": "false",
}


@dataclass(frozen=True)
class RepoConfig:
    overrides: tuple[tuple[str, str], ...]
    has_name: bool  # user.name set: else the runner supplies a neutral identity
    has_email: bool
    sets_worktree: bool  # core.worktree present: refused for bare repositories
    has_includes: bool  # include.path / includeIf: config spans files we don't watch


def parse_listing(raw: str) -> list[tuple[str, str]]:
    """Entries of ``git config --list -z``: ``key\\nvalue\\0`` (a key alone when valueless)."""
    entries = []
    for record in raw.split("\x00"):
        if not record:
            continue
        key, _, value = record.partition("\n")
        entries.append((key, value))
    return entries


def _split(key: str) -> tuple[str, str | None, str]:
    """``section.sub.sect.var`` -> (section lowercased, subsection as written, var lowercased)."""
    section, _, rest = key.partition(".")
    if "." not in rest:
        return section.lower(), None, rest.lower()
    sub, _, var = rest.rpartition(".")
    return section.lower(), sub, var.lower()


def _for_entry(section: str, sub: str, var: str, tools: dict[str, str]) -> list[tuple[str, str]]:
    key = f"{section}.{sub}"
    if section == "filter" and var in ("clean", "smudge", "process", "required"):
        # Empty commands mean "no filter"; required=false stops git failing for the lack of one.
        return [
            (f"{key}.clean", ""),
            (f"{key}.smudge", ""),
            (f"{key}.process", ""),
            (f"{key}.required", "false"),
        ]
    if section == "diff" and var in ("textconv", "command"):
        # cat turns textconv into the identity; an empty external command can only fail.
        return [(f"{key}.textconv", tools["cat"]), (f"{key}.command", "")]
    if section == "merge" and var == "driver":
        return [(f"{key}.driver", tools["false"])]  # a failing driver means a reported conflict
    if section == "remote" and var in ("uploadpack", "receivepack", "vcs", "mirror", "proxy"):
        return [
            (f"{key}.uploadpack", tools["upload-pack"]),
            (f"{key}.receivepack", tools["receive-pack"]),
            (f"{key}.vcs", ""),
            (f"{key}.mirror", "false"),
            (f"{key}.proxy", ""),
        ]
    if section == "credential" and var == "helper":
        return [(f"{key}.helper", "")]
    if section == "protocol" and var == "allow" and sub.lower() not in ALLOWED_PROTOCOLS:
        return [(f"{key}.allow", "never")]
    if section == "http" and var in _HTTP_SAFE:
        # Per-URL http settings that would widen what the server reaches or trusts.
        return [(f"{key}.{name}", value) for name, value in _HTTP_SAFE.items()]
    if section == "gpg" and var in ("program", "defaultkeycommand"):
        return [(f"{key}.{var}", tools["false"])]
    if section == "hook" and var == "command":  # config-defined hooks (newer git)
        return [(f"{key}.command", "")]
    return []


def derive(entries: list[tuple[str, str]], tools: dict[str, str]) -> RepoConfig:
    """The overrides that neutralise every named driver and per-name setting in ``entries``."""
    overrides: dict[str, str] = {}
    includes = False
    for key, _value in entries:
        section, sub, var = _split(key)
        if sub is not None:
            overrides.update(_for_entry(section, sub, var, tools))
        includes = includes or section in ("include", "includeif")
    keys = {key.lower() for key, _ in entries}
    return RepoConfig(
        overrides=tuple(overrides.items()),
        has_name="user.name" in keys,
        has_email="user.email" in keys,
        sets_worktree="core.worktree" in keys,
        has_includes=includes,
    )
