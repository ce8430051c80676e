"""What every tool handler gets: the runner, the workspace, and the shared helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from servers.git.parse import parse_status
from servers.git.runner import GitOutput, GitRunner, Repo
from servers.git.workspace import Workspace
from servers.wire.server import Tool, ToolResult

__all__ = ["GitContext", "reply", "tool"]

Handler = Callable[["GitContext", dict[str, Any]], ToolResult]


@dataclass(frozen=True)
class GitContext:
    runner: GitRunner
    workspace: Workspace
    allow_private_addresses: bool = False  # https remotes may be loopback/private hosts

    def repo(self, args: dict[str, Any]) -> Repo:
        return self.workspace.repo(args.get("path"))

    def git(self, repo: Repo, *args: str, **options: Any) -> GitOutput:
        return self.runner.run(repo, args, **options)

    def status(self, repo: Repo) -> dict[str, Any]:
        out = self.git(repo, "status", "--porcelain=v2", "--branch", "-z")
        status = parse_status(out.stdout)
        if out.truncated:  # the last record may be cut: say so rather than look complete
            status["truncated"] = True
        return status

    def current_branch(self, repo: Repo) -> str | None:
        out = self.git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1, 128))
        return out.stdout.strip() or None

    def head(self, repo: Repo) -> str | None:
        out = self.git(repo, "rev-parse", "--verify", "--quiet", "HEAD", ok=(0, 1))
        return out.stdout.strip() or None


def reply(data: dict[str, Any], truncated: bool = False) -> ToolResult:
    """Structured content plus the same object as JSON text (for clients that read only text)."""
    if truncated:
        data = {**data, "truncated": True}
    return ToolResult(json.dumps(data, ensure_ascii=False), structured=data)


def tool(
    ctx: GitContext,
    name: str,
    description: str,
    schema: dict[str, Any],
    handler: Handler,
    *,
    read_only: bool = False,
    destructive: bool = False,
) -> Tool:
    annotations = {"readOnlyHint": read_only, "destructiveHint": destructive}
    return Tool(name, description, schema, partial(handler, ctx), annotations)
