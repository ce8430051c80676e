"""Who the agent is in its container, and the workspace's ownership for that time.

Run by a normal user, the agent gets that user's uid and gid: the files it writes stay the user's.
Run as root (the first image build needs it), the agent must not be uid 0 on the host kernel, so
it runs as `AGENT_UID` and the workspace is lent to that uid for the session: every entry is
chowned (without following links) and given back to root at the end. A file with more than one
hard link is never chowned: one of its other names may be outside the workspace.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["AGENT_UID", "agent_user", "lent_workspace"]

AGENT_UID = 65532  # the conventional "nonroot" uid; owns nothing on the host


def agent_user() -> tuple[int, int]:
    """The (uid, gid) the agent runs as."""
    if os.getuid() == 0:
        return AGENT_UID, AGENT_UID
    return os.getuid(), os.getgid()


@contextlib.contextmanager
def lent_workspace(workspace: Path) -> Iterator[None]:
    """For a root host: the workspace belongs to the agent's uid during the block, to root after."""
    if os.getuid() != 0:
        yield
        return
    _chown_tree(workspace, (0,), AGENT_UID)
    try:
        yield
    finally:
        _chown_tree(workspace, (AGENT_UID,), 0)


def _chown_tree(root: Path, owners: tuple[int, ...], to: int) -> None:
    """Chown `root` and everything below it owned by one of `owners` to `to`; never follows a
    symlink, never crosses into another filesystem, skips multiply-linked files."""
    device = root.lstat().st_dev
    _chown_one(root, owners, to)
    for folder, subfolders, files in os.walk(root):
        for name in [*subfolders, *files]:
            path = Path(folder) / name
            info = path.lstat()
            if info.st_dev != device:
                subfolders[:] = [s for s in subfolders if s != name]
                continue
            if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
                continue
            _chown_one(path, owners, to, info)


def _chown_one(path: Path, owners: tuple[int, ...], to: int, info: os.stat_result | None = None):
    info = info or path.lstat()
    if info.st_uid in owners:
        os.lchown(path, to, to)
