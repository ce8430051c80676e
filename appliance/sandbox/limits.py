"""Resource limits for one sandbox execution, and the result it produces.

Every cap on what crosses from the guest into the host is declared here, and each is checked on
the length wasmtime reports before the host copies the string (``crossing.py``):

- the answer of ``run`` (stdout, stderr, result, error, JSON-encoded): ``Limits.max_answer_bytes``,
  derived from ``max_output_chars`` (the guest cuts each field there; a guest that does not is
  refused unread, ``RunError.kind == "too_large"``);
- a ``tools.call`` name: ``MAX_TOOL_NAME_BYTES``; its arguments: ``Limits.max_args_bytes``
  (refused as the call's ``ERROR: ...`` answer).

Printed output, exception messages and tracebacks travel inside the answer and are bounded by it.

Plain frozen dataclasses, not pydantic models: a one-shot ``ironcurtain exec`` imports this
package on its start-up path, where pydantic's import (~150 ms) would cost more than the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from appliance.errors import ApplianceError

__all__ = ["MAX_TOOL_NAME_BYTES", "Limits", "RunError", "RunResult", "RunStopped", "SandboxError"]

MiB = 1024 * 1024
# Measured here: CPU-bound guest Python burns about 5e9 fuel units per second
# (tests/bench/bench_sandbox.py prints the figure), so this is roughly 30 s of work.
DEFAULT_FUEL = 150_000_000_000
_MIN_MEMORY = 48 * MiB  # below this the pre-initialised guest cannot even instantiate
# Longer than any server.tool name (server at most 64 characters, tool at most 128, ASCII): a
# longer name is refused before it is read, let alone written into an audit record.
MAX_TOOL_NAME_BYTES = 256


@dataclass(frozen=True)
class Limits:
    """Every limit is always set: wasmtime's own defaults are 'unlimited'."""

    memory_bytes: int = 256 * MiB
    fuel: int = DEFAULT_FUEL
    wall_seconds: float = 60.0  # guest compute only: paused while a tool call runs
    # The whole execution, tool calls included: once past it no tool call starts and the run
    # ends. Three escalations waiting out their default 300 s each fit.
    run_wall_seconds: float = 900.0
    max_tool_calls: int = 1_000
    max_args_bytes: int = 1 * MiB
    max_output_chars: int = 100_000

    def __post_init__(self) -> None:
        checks = {
            "memory_bytes": self.memory_bytes >= _MIN_MEMORY,
            "fuel": self.fuel > 0,
            "wall_seconds": 0 < self.wall_seconds < math.inf,
            "run_wall_seconds": 0 < self.run_wall_seconds < math.inf,
            "max_tool_calls": self.max_tool_calls >= 0,
            "max_args_bytes": self.max_args_bytes > 0,
            "max_output_chars": self.max_output_chars > 0,
        }
        for name, valid in checks.items():
            if not valid:
                raise ValueError(f"sandbox Limits.{name}: invalid value {getattr(self, name)!r}")

    @property
    def max_answer_bytes(self) -> int:
        """Bytes a well-behaved guest's answer can take: five capped text fields, each character
        at most 12 bytes once JSON-escaped (a surrogate pair), plus the envelope."""
        return 5 * 12 * (self.max_output_chars + 200) + 64 * 1024


class SandboxError(ApplianceError, RuntimeError):
    """The sandbox cannot run at all (guest missing or unloadable): the operator's problem."""


class RunStopped(ApplianceError):
    """Raised by a ``call_tool`` to end the run at once (the user interrupted it, the session is
    ending): the guest traps at that call, so its code cannot catch the refusal and go on.
    ``run_limit``: the call was cut off because the run passed ``Limits.run_wall_seconds``; the
    run ends as any run past that limit does (``RunError.kind == "run_deadline"``)."""

    def __init__(self, reason: str, *, run_limit: bool = False) -> None:
        super().__init__(reason)
        self.run_limit = run_limit


@dataclass(frozen=True)
class RunError:
    # guest_exception | out_of_fuel | deadline | run_deadline | memory | stack_overflow | trap
    # | envelope | forbidden | exit | stopped | too_large
    kind: str
    type: str  # the guest's exception class name, or the kind of trap
    message: str
    traceback: str = ""


@dataclass(frozen=True)
class RunResult:
    """What one execution produced. ``to_agent_text()`` is what the model sees."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    error: RunError | None = None
    output_truncated: bool = False
    tool_calls: int = 0
    fuel_used: int = 0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_agent_text(self) -> str:
        parts: list[str] = []
        if self.stdout:
            parts.append(f"stdout:\n{self.stdout.rstrip()}")
        if self.stderr:
            parts.append(f"stderr:\n{self.stderr.rstrip()}")
        if self.result is not None:
            parts.append(f"result: {self.result}")
        if self.error is not None:
            text = f"error: {self.error.type}: {self.error.message}"
            if self.error.traceback:
                text += f"\n{self.error.traceback}"
            parts.append(text)
        if self.output_truncated:
            parts.append("(output was cut at the sandbox's output cap)")
        return "\n".join(parts) if parts else "(no output)"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_json(self) -> str:
        # ASCII: printed to a terminal by `exec`, where a raw C1 control (U+009B is CSI) or a
        # bidi override from the guest's output would act; JSON's \\u escapes are inert.
        return json.dumps(self.to_dict(), ensure_ascii=True)
