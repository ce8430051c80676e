"""What an agent keeps between runs of one session, so `ironcurtain start --resume ID` continues
its conversation (Claude Code: `~/.claude`, with the transcripts under `projects/`).

It lives in the session's folder on the host, `<session>/agent-state/`, mounted read-write at
the agent's `~/.claude` (its HOME is otherwise a tmpfs, gone when the container stops). It is the
agent's data, written from inside the container: the host never reads it as configuration or
code. The host only mounts it again, and looks (without following any link) whether the
conversation's transcript file exists to choose between starting it and resuming it. Its disk
use is watched like the workspace's.

The conversation id is derived from the session id (a UUID 5), so nothing needs recording and a
resumed run names the same conversation.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

__all__ = ["STATE_FOLDER", "conversation_id", "has_codex_session", "has_conversation", "state_dir"]

STATE_FOLDER = "agent-state"
_NAMESPACE = uuid.UUID("6f1c8c5e-3a7d-4d0e-9a51-2b8f1f0c7e41")  # this appliance's, fixed
_MAX_PROJECTS = 1000  # folders looked at; a state with more is not ours to walk


def state_dir(session_dir: Path) -> Path:
    """The session's agent-state folder, made (0700) if missing; never through a link."""
    folder = session_dir / STATE_FOLDER
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or (info.st_uid != os.getuid() and os.getuid() != 0):
            raise ValueError(f"{folder} is not a folder of yours; not mounting it") from None
    return folder


def conversation_id(session_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, session_id))


def has_codex_session(state: Path) -> bool:
    """Whether Codex recorded a session: `sessions/YYYY/MM/DD/rollout-*.jsonl` as a regular
    file (links not followed, at most a few thousand entries looked at)."""
    budget = [_MAX_PROJECTS * 4]

    def entries(folder: Path) -> list[os.DirEntry]:
        try:
            if not stat.S_ISDIR(folder.lstat().st_mode):
                return []
            with os.scandir(folder) as found:
                out = []
                for entry in found:
                    budget[0] -= 1
                    if budget[0] < 0:
                        return out
                    out.append(entry)
                return out
        except OSError:
            return []

    level = [state / "sessions"]
    for _ in range(3):  # year, month, day
        level = [Path(e.path) for f in level for e in entries(f) if e.is_dir(follow_symlinks=False)]
    return any(
        e.name.startswith("rollout-")
        and e.name.endswith(".jsonl")
        and e.is_file(follow_symlinks=False)
        for day in level
        for e in entries(day)
    )


def has_conversation(state: Path, conversation: str) -> bool:
    """Whether `projects/<any>/<conversation>.jsonl` is a regular file (links not followed)."""
    projects = state / "projects"
    try:
        if not stat.S_ISDIR(projects.lstat().st_mode):
            return False
        with os.scandir(projects) as entries:
            for count, entry in enumerate(entries):
                if count >= _MAX_PROJECTS:
                    return False
                if not entry.is_dir(follow_symlinks=False):
                    continue
                transcript = Path(entry.path) / f"{conversation}.jsonl"
                try:
                    if stat.S_ISREG(transcript.lstat().st_mode):
                        return True
                except OSError:
                    continue
    except OSError:
        return False
    return False
