"""A rebase or cherry-pick in progress is data the agent can write: check it before resuming.

``git rebase --continue``/``--skip`` and ``git cherry-pick --continue`` carry on from state files
in the git directory (``rebase-merge/``, ``sequencer/``), which are ordinary files an agent can
write. Some of them are instructions to run programs: an ``exec`` (``x``) line in the todo list
runs a shell command, and a ``strategy`` other than a built-in one runs ``git merge-<strategy>``,
found on PATH or, when the name holds a ``/``, relative to the work tree. So before resuming,
the server reads the todo lists and the option files itself and refuses, naming the line or
value, anything outside what the tools themselves could have started: the todo commands that
only replay history, and the merge strategies git_merge offers.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from servers.git.trust import RepositoryRefused

if TYPE_CHECKING:
    from servers.git.context import GitContext
    from servers.git.runner import Repo

__all__ = ["STRATEGIES", "TODO_COMMANDS", "check_resumable"]

STRATEGIES = ("ort", "recursive", "resolve", "octopus", "ours", "subtree")
# Todo commands (long and short names) that replay, label or stop; never exec/x.
TODO_COMMANDS = frozenset(
    {
        *("pick", "p", "reword", "r", "edit", "e", "squash", "s", "fixup", "f"),
        *("drop", "d", "noop", "break", "b", "label", "l", "reset", "t", "merge", "m"),
        *("update-ref", "u", "revert"),
    }
)
_MAX_STATE_BYTES = 1024 * 1024
# sequencer/opts keys (git config syntax) a cherry-pick writes; the strategy is checked apart.
_SEQUENCER_OPTIONS = frozenset(
    {
        *("options.no-commit", "options.edit", "options.allow-empty"),
        *("options.allow-empty-message", "options.keep-redundant-commits", "options.signoff"),
        *("options.record-origin", "options.allow-ff", "options.mainline", "options.strategy"),
        *("options.strategy-option", "options.allow-rerere-auto", "options.default-msg-cleanup"),
    }
)


def _read(path: Path) -> str | None:
    """A state file's text (None when absent); refused when not a regular file or too big."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RepositoryRefused(f"refused: {path} is not a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RepositoryRefused(f"refused: {path} is not a regular file")
        data = handle.read(_MAX_STATE_BYTES + 1)
    if len(data) > _MAX_STATE_BYTES:
        raise RepositoryRefused(f"refused: {path} is over {_MAX_STATE_BYTES} bytes")
    return data.decode("utf-8", "replace")


def _check_folder(folder: Path) -> bool:
    if os.path.islink(folder):
        raise RepositoryRefused(f"refused: {folder} is a symbolic link")
    return folder.is_dir()


def _check_todo(path: Path) -> None:
    text = _read(path)
    for number, line in enumerate((text or "").splitlines(), 1):
        words = line.split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        if words[0] not in TODO_COMMANDS:
            raise RepositoryRefused(
                f"refused: {path} line {number} starts with {words[0][:40]!r}; the git server "
                f"resumes only todo lines that replay history ({', '.join(sorted(TODO_COMMANDS))})"
            )


def _check_strategy(value: str, where: str) -> None:
    if value.strip() not in STRATEGIES:
        raise RepositoryRefused(
            f"refused: {where} names the merge strategy {value.strip()[:80]!r}; "
            f"the git server accepts only {', '.join(STRATEGIES)}"
        )


def check_resumable(ctx: GitContext, repo: Repo) -> None:
    """Raise :class:`RepositoryRefused` when the rebase or cherry-pick state of ``repo`` holds
    anything but history to replay with a built-in strategy."""
    git_dir = repo.git_dir
    if git_dir is None:
        return
    merge_dir, sequencer = git_dir / "rebase-merge", git_dir / "sequencer"
    apply_dir = git_dir / "rebase-apply"
    if os.path.lexists(apply_dir):
        # The apply backend (git am): its state carries options for git apply and patches to
        # apply. The server never starts one (its rebases use the merge backend).
        raise RepositoryRefused(
            f"refused: {apply_dir} is an apply-backend rebase or git am in progress, which the "
            "git server never starts; a human can finish it (or remove the folder)"
        )
    if _check_folder(merge_dir):
        _check_todo(merge_dir / "git-rebase-todo")
        strategy = _read(merge_dir / "strategy")
        if strategy is not None:
            _check_strategy(strategy, str(merge_dir / "strategy"))
        if _read(merge_dir / "gpg_sign_opt") is not None:
            raise RepositoryRefused(f"refused: {merge_dir / 'gpg_sign_opt'} asks for signing")
    if _check_folder(sequencer):
        _check_todo(sequencer / "todo")
        opts = sequencer / "opts"
        if _read(opts) is not None:
            listing = ctx.git(repo, "config", "--file", str(opts), "--no-includes", "--list", "-z")
            for record in listing.stdout.split("\x00"):
                key, _, value = record.partition("\n")
                if not key:
                    continue
                if key.lower() not in _SEQUENCER_OPTIONS:
                    raise RepositoryRefused(f"refused: {opts} sets {key[:80]!r}")
                if key.lower() == "options.strategy":
                    _check_strategy(value, str(opts))
