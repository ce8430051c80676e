"""The workspace paths a repository's own configuration names as code or configuration.

A repository the user had before the session is mounted read-only, but its config may name
files *in the working tree* that git runs or reads as config: `core.hooksPath = .husky/_` (husky
does this), `include.path = ../team.gitconfig`, `core.pager = ./tools/pager`,
`filter.x.clean = scripts/clean.sh`. The agent could write those. `named_paths` reads a config
file (the user's, written before the agent ran; parsed here with a size limit, never by running
git) and returns every path such a value names, resolved; the guard mounts those inside the
workspace read-only too, or quarantines them if the agent creates them.

Keys read (lower case; `*` is a subsection): the path keys `core.hookspath`, `include.path`,
`includeif.*.path`, and the command keys in `COMMAND_KEYS`, whose words holding a `/` are taken
as paths (a bare word is looked up on PATH, not in the working tree).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["COMMAND_KEYS", "MAX_CONFIG_BYTES", "named_paths"]

MAX_CONFIG_BYTES = 1 << 20
PATH_KEYS = ("core.hookspath", "include.path", "includeif.*.path")
COMMAND_KEYS = (
    "core.fsmonitor", "core.sshcommand", "core.pager", "core.editor", "core.askpass",
    "core.gitproxy", "sequence.editor", "credential.helper", "credential.*.helper",
    "diff.external", "diff.*.command", "diff.*.textconv", "filter.*.clean", "filter.*.smudge",
    "filter.*.process", "merge.*.driver", "gpg.program", "gpg.*.program", "pager.*", "alias.*",
    "interactive.difffilter", "uploadpack.packobjectshook", "difftool.*.cmd", "difftool.*.path",
    "mergetool.*.cmd", "mergetool.*.path", "web.browser", "browser.*.cmd", "browser.*.path",
    "man.*.cmd", "man.*.path",
)  # fmt: skip
_SECTION = re.compile(r'\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_WORD = re.compile(r"""[^\s;&|<>()'"`$!]+""")


def named_paths(config: Path, worktree: Path) -> list[Path]:
    """Every path the config at `config` names as code or configuration (relative ones
    resolved from the working tree, the config's folder and its `core.worktree`: git uses
    each for one key or another)."""
    try:
        text = _read(config)
    except OSError:
        return []
    entries = _entries(text)
    bases = [worktree, config.parent]
    bases += [config.parent / value for key, value in entries if key == "core.worktree" and value]
    found: list[Path] = []
    for key, value in entries:
        if _matches(key, PATH_KEYS):
            words = [value]
        elif _matches(key, COMMAND_KEYS):
            words = [w for w in _WORD.findall(value) if "/" in w]
        else:
            continue
        for word in words:
            if word and not word.startswith("~"):
                found += [Path(os.path.normpath(base / word)) for base in bases]
    return list(dict.fromkeys(found))


def _read(config: Path) -> str:
    fd = os.open(config, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return os.read(fd, MAX_CONFIG_BYTES).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    section, _, name = key.partition(".")
    sub, _, name = name.rpartition(".")
    shape = f"{section}.*.{name}" if sub else f"{section}.{name}"
    return shape in patterns or f"{section}.*" in patterns


def _entries(text: str) -> list[tuple[str, str]]:
    """(section[.subsection].name in lower case, value) for each variable, as git reads them:
    `[s "sub"]` and `[s.sub]` headers, `;`/`#` comments, quotes, escapes, continued lines."""
    entries, section = [], ""
    lines = iter(text.splitlines())
    for line in lines:
        header = _SECTION.match(line)
        if header:
            name, sub = header[1].lower(), header[2]
            section = f"{name}.{sub}" if sub is not None else name
            line = line[header.end() :]
        match = re.match(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(=?)(.*)", line)
        if not match or not section:
            continue
        raw = match[3]
        while raw.endswith("\\") and not raw.endswith("\\\\"):
            raw = raw[:-1] + next(lines, "")
        entries.append((f"{section}.{match[1].lower()}", _value(raw) if match[2] else ""))
    return entries


def _value(raw: str) -> str:
    out, quoted, chars = [], False, iter(raw)
    for char in chars:
        if char == '"':
            quoted = not quoted
        elif char == "\\":
            escaped = next(chars, "")
            out.append({"n": "\n", "t": "\t", "b": "\b"}.get(escaped, escaped))
        elif char in "#;" and not quoted:
            break
        else:
            out.append(char)
    return "".join(out).strip()
