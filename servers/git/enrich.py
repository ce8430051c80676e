"""What the chokepoint needs to know about a git call before the policy decides: remote URLs.

``git_fetch``, ``git_pull`` and ``git_push`` name a remote, not a URL; the policy's
``git-remote-url`` role needs the URL git will actually contact. This answers it with the same
hardened runner and containment as the server (``url.*.insteadOf`` applied, as git applies it),
so the host never spawns git any other way. Any problem raises :class:`ToolError`: the caller
should deny, never guess.
"""

from __future__ import annotations

import functools
from pathlib import Path

from servers.git.checks import check_remote_name
from servers.git.runner import GitRunner
from servers.git.workspace import Workspace

__all__ = ["remote_urls"]


@functools.cache
def _runner() -> GitRunner:
    return GitRunner(timeout=10.0, max_output=64 * 1024)


def remote_urls(
    path: str, remote: str = "origin", *, push: bool = False, base_dir: str | Path | None = None
) -> list[str]:
    """The URLs ``git fetch`` (or, with ``push``, ``git push``) would use for ``remote``.

    ``path`` is the repository directory as the tool call names it (absolute, or relative to
    ``base_dir``); it must lie inside ``base_dir`` when one is given.
    """
    workspace = Workspace(Path(base_dir) if base_dir is not None else None)
    repo = workspace.repo(path)
    name = check_remote_name(remote, "remote")
    command = ["remote", "get-url", "--all", *(["--push"] if push else []), name]
    out = _runner().run(repo, command)
    return [url for url in out.stdout.splitlines() if url]
