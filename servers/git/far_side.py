"""The git server's ``/bin/sh``: it starts the far side of a local transport, and nothing else.

git starts the other end of a push, fetch or clone whose remote is a local path (or ``file://``)
as ``/bin/sh -c "<upload-pack command> '<path>'"`` — always through the shell, whatever the
command. The git server's confinement (``servers/git/confinement.json``, key ``shell``) puts
this program in place of ``/bin/sh`` inside the server's own mount namespace, so that one form
works while the server still executes no shell: no metacharacters, no pipes, no second command,
no program but git (through ``prlimit``, as the server starts every git child).

Accepted, after POSIX-shell word splitting (quotes only; anything a shell would expand is
refused): ``[PRLIMIT --opt=N… --] GIT [--no-pager] [-c KEY=VALUE…] VERB PATH`` where VERB is
``upload-pack``, ``receive-pack`` or ``upload-archive`` (or git's ``git-VERB`` spelling of the
whole command) and PATH is absolute. The words are then executed directly, without a shell. The
overrides the server wrote into the command (``-c core.hooksPath=…``) outrank the far
repository's own config, as on the near side. Anything else exits 126 with a one-line reason.
"""

from __future__ import annotations

import os
import re
import shlex
import sys

__all__ = ["main", "parse"]

_VERBS = frozenset({"upload-pack", "receive-pack", "upload-archive"})
# Characters a shell would act on outside quotes; refused before splitting.
_SHELL_ACTIVE = re.compile(r"[|&;<>()$`\\\n*?\[\]#~{}!]")
# prlimit options that set a limit of the program it starts (never --pid: another process).
_PRLIMIT_OPTION = re.compile(r"--(as|cpu|nofile|fsize|core|nproc|data|stack|rss)=[0-9]+")
_CONFIG_PAIR = re.compile(r"[A-Za-z][A-Za-z0-9-]*(\.[^=\x00]+)?\.[A-Za-z][A-Za-z0-9-]*=[^\x00]*")


class Refused(Exception):
    """The command is not the far side of a local transport."""


def _program(name: str) -> str | None:
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder, name)
        if os.path.isabs(folder) and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def _is(word: str, name: str) -> bool:
    """``word`` is an absolute path to the same file as a program ``name`` on PATH (git puts its
    exec-path first on its children's PATH, where ``git`` may be a second link to the program)."""
    if not os.path.isabs(word):
        return False
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder, name)
        try:
            if os.path.isabs(folder) and os.path.samefile(word, candidate):
                return True
        except OSError:
            continue
    return False


def _unquoted_parts(command: str) -> str:
    """The command with single-quoted spans removed: what a shell would interpret."""
    return re.sub(r"'[^']*'", "''", command)


def parse(command: str) -> list[str]:
    """The argv to execute for ``sh -c COMMAND``; raises :class:`Refused` otherwise."""
    if _SHELL_ACTIVE.search(_unquoted_parts(command)) or '"' in command:
        raise Refused("shell syntax beyond single quotes")
    words = shlex.split(command, posix=True)
    if not words:
        raise Refused("an empty command")
    at = 0
    if _is(words[0], "prlimit"):
        at = 1
        while at < len(words) and _PRLIMIT_OPTION.fullmatch(words[at]):
            at += 1
        if at >= len(words) or words[at] != "--":
            raise Refused("prlimit options other than --name=N")
        at += 1
    if len(words) == at + 2 and words[at].removeprefix("git-") in _VERBS:
        # git's default spelling: "git-upload-pack '/path'" — run as "git upload-pack /path".
        verb, path = words[at].removeprefix("git-"), words[at + 1]
        git = _program("git")
        if git is None:
            raise Refused("git is not on PATH")
        return _checked([*words[:at], git, verb, path])
    if at >= len(words) or not _is(words[at], "git"):
        raise Refused("a program other than git")
    rest = words[at + 1 :]
    options: list[str] = []
    while rest and rest[0] in ("--no-pager", "-c"):
        if rest[0] == "-c":
            if len(rest) < 2 or not _CONFIG_PAIR.fullmatch(rest[1]):
                raise Refused("a -c option that is not KEY=VALUE")
            options += rest[:2]
            rest = rest[2:]
        else:
            options.append(rest.pop(0))
    if len(rest) != 2 or rest[0] not in _VERBS:
        raise Refused("not upload-pack, receive-pack or upload-archive with one path")
    return _checked([*words[:at], words[at], *options, *rest])


def _checked(argv: list[str]) -> list[str]:
    path = argv[-1]
    if not os.path.isabs(path) or "\x00" in path:
        raise Refused("the repository path is not absolute")
    return argv


def main(argv: list[str]) -> int:
    """``sh -c COMMAND [NAME]`` (``argv`` without the program name). git passes the command
    again as the shell's ``$0``; with arguments of its own it would append ``"$@"``, which
    :func:`parse` refuses."""
    if len(argv) not in (2, 3) or argv[0] != "-c":
        print("ironcurtain: the git server runs no shell", file=sys.stderr)
        return 126
    try:
        words = parse(argv[1])
    except (Refused, ValueError) as exc:
        print(f"ironcurtain: the git server runs no shell command ({exc})", file=sys.stderr)
        return 126
    os.execv(words[0], words)  # noqa: S606 - the point: the parsed words, never a shell
    return 127  # not reached: execv replaces this process or raises
