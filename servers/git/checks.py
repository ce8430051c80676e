"""Argument checks for values that end up on git's command line.

Every value an agent chose is checked here before git sees it: a value starting with ``-``
would be read as an option (``--upload-pack=...``), a ``+`` or ``:`` in a push refspec would
force or redirect the push, a NUL byte would truncate. The schema already fixed each value's
type; these checks fix its shape and raise :class:`ToolError` naming the argument and value.
"""

from __future__ import annotations

import re

from servers.wire.server import ToolError

__all__ = [
    "SECRET_EXCLUDES",
    "SECRET_IGNORES",
    "check_branch_name",
    "check_message",
    "check_not_secret",
    "check_pathspec",
    "check_remote_name",
    "check_revision",
    "shown",
]

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_REMOTE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_MAX_REF = 255
_MAX_REVISION = 512
_MAX_PATHSPEC = 4096
_MAX_MESSAGE = 65536


def shown(value: str, limit: int = 80) -> str:
    """The value as the agent should see it quoted in an error (bounded, escapes visible)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse(field: str, value: str, why: str) -> ToolError:
    return ToolError(f"{field}: {shown(value)} {why}")


def _common(field: str, value: str, limit: int) -> None:
    if not value:
        raise ToolError(f"{field}: must not be empty")
    if len(value) > limit:
        raise ToolError(f"{field}: longer than {limit} characters")
    if "\x00" in value:
        raise _refuse(field, value, "contains a NUL byte")
    if value.startswith("-"):
        raise _refuse(field, value, "starts with '-' and would be read as an option")


def check_branch_name(value: str, field: str = "branch") -> str:
    """A branch or tag name by git's ref-format rules, and never a refspec."""
    _common(field, value, _MAX_REF)
    if _REF_FORBIDDEN.search(value):
        raise _refuse(field, value, "contains a space, control character or one of ~^:?*[\\")
    if value.startswith("+"):
        raise _refuse(field, value, "starts with '+' (a forced refspec)")
    if value == "@" or "@{" in value or ".." in value or "//" in value:
        raise _refuse(field, value, "is not a valid ref name ('@', '@{', '..' or '//')")
    if value.startswith("/") or value.endswith(("/", ".", ".lock")):
        why = "is not a valid ref name (starts with '/', or ends with '/', '.' or '.lock')"
        raise _refuse(field, value, why)
    for part in value.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            raise _refuse(field, value, "has a component starting with '.' or ending '.lock'")
    return value


def check_remote_name(value: str, field: str = "remote") -> str:
    """A remote's name (origin, upstream): letters, digits, '.', '_', '-'."""
    _common(field, value, 100)
    if not _REMOTE_NAME.fullmatch(value) or ".." in value or value.endswith(".lock"):
        raise _refuse(field, value, "is not a remote name (letters, digits, '.', '_', '-')")
    return value


def check_revision(value: str, field: str = "ref") -> str:
    """A revision (hash, branch, tag, HEAD~2, stash@{0}, v1..v2): no options, no spaces."""
    _common(field, value, _MAX_REVISION)
    if _CONTROL.search(value):
        raise _refuse(field, value, "contains a space or control character")
    check_not_secret(value, field)  # 'HEAD:.env' names a file: diffed, tagged or shown
    return value


def check_pathspec(value: str, field: str = "file") -> str:
    """A file path or pathspec inside the repository (git itself refuses ones outside it),
    never naming a ``.env`` file."""
    _common(field, value, _MAX_PATHSPEC)
    if any(ord(c) < 0x20 and c != "\t" for c in value):
        raise _refuse(field, value, "contains a control character")
    check_not_secret(value, field)
    return value


# Appended to every pathspec list whose files' content git would stage, show or restore, so
# that a wildcard ('.', '*', all: true) never takes a .env file along. The same names the
# policy's protected-path check calls .env files (policy.paths.is_env_file).
SECRET_EXCLUDES = (":(top,exclude,glob,icase)**/.env", ":(top,exclude,glob,icase)**/.env.*")
# The same names as ignore patterns (``git clean -e``), for commands whose pathspecs do not
# reach into what they remove; case spelled out, as ignore patterns follow core.ignoreCase.
SECRET_IGNORES = ("-e", ".[eE][nN][vV]", "-e", ".[eE][nN][vV].*")
_PARTS = re.compile(r"[/:)\\]")


def check_not_secret(value: str, field: str) -> None:
    """Refuse a path, pathspec or ``REV:path`` with a ``.env`` component (any case)."""
    for part in _PARTS.split(value):
        name = part.lower()
        if name == ".env" or name.startswith(".env."):
            raise _refuse(field, value, "names a .env file, which is never accessible")


def check_message(value: str, field: str = "message") -> str:
    """A commit, tag, merge or stash message: any text, but not empty and no NUL."""
    if not value.strip():
        raise ToolError(f"{field}: must not be empty")
    if len(value) > _MAX_MESSAGE:
        raise ToolError(f"{field}: longer than {_MAX_MESSAGE} characters")
    if "\x00" in value:
        raise ToolError(f"{field}: contains a NUL byte")
    return value
