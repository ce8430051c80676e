"""The compiler's one error: which stage, which server (if any), what went wrong."""

from __future__ import annotations

__all__ = ["CompileError"]


class CompileError(Exception):
    """A stage failed; the previous policy stays active. Safe to show the operator."""

    def __init__(self, stage: str, message: str, server: str | None = None) -> None:
        self.stage, self.server, self.message = stage, server, message
        where = f"{stage} ({server})" if server else stage
        super().__init__(f"{where}: {message}")
