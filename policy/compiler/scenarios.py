"""Stage 4: test scenarios — the LLM's, per server, and the hand-written invariants.

The LLM writes calls with the decision the constitution implies (``source: "llm"``); each must
call a tool the server has. The invariants (``policy/invariants.json``) are read-only to the
pipeline: they are loaded fresh for every check, never passed to an LLM for editing, and a
proposal against one is refused (see ``verify``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policy.compiler.cache import StageCache, digest_of
from policy.compiler.errors import CompileError
from policy.compiler.llm import LLM, ask_json
from policy.models import ServerAnnotations
from policy.scenarios import Scenario, ScenarioContext, ScenarioRequest

__all__ = ["INVARIANTS_FILE", "Invariant", "InvariantFile", "load_invariants", "write_scenarios"]

INVARIANTS_FILE = Path(__file__).resolve().parent.parent / "invariants.json"
# The folders every compiled scenario assumes (the shipped scenarios use the same).
CONTEXT = ScenarioContext(sandbox="/home/user/.ironcurtain/sessions/s1/sandbox")

SYSTEM = """You write test scenarios for a security policy of ONE MCP server, from a constitution.
Answer with one JSON object only: {"scenarios": [{"description", "request": {"serverName",
"toolName", "arguments"}, "expectedDecision": "allow" | "deny" | "escalate", "reasoning"}]}.
Assume home /home/user and the session sandbox /home/user/.ironcurtain/sessions/s1/sandbox.
Cover what the constitution allows, escalates and forbids for this server's tools.
Where the decision depends on what the user asked for in the task, or on earlier calls, add
"task": the user's request as they would type it, and "steps": [{"request", "result"}], the
calls made before the one tested, with what each returned (a mail, a web page, a listing)."""


class Invariant(BaseModel):
    """A call whose decision no compiled policy may change: exactly ``expectedDecision``, or
    never ``never`` (``"allow"``: deny or escalate are both fine)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", validate_by_name=True)

    description: str
    request: ScenarioRequest
    expected_decision: Literal["allow", "deny", "escalate"] | None = Field(
        default=None, alias="expectedDecision"
    )
    expected_rule: str | None = Field(default=None, alias="expectedRule")
    never: Literal["allow", "escalate"] | None = None


class InvariantFile(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    context: ScenarioContext
    invariants: tuple[Invariant, ...]


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    scenarios: tuple[Scenario, ...]


def load_invariants(path: Path = INVARIANTS_FILE) -> InvariantFile:
    try:
        return InvariantFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise CompileError("invariants", f"{path}: {exc}") from None


def write_scenarios(
    server: str,
    constitution: str,
    annotations: ServerAnnotations,
    llm: LLM,
    cache: StageCache,
    progress: Callable[[str], None],
) -> tuple[Scenario, ...]:
    tools = [t.model_dump(mode="json", by_alias=True) for t in annotations.tools]
    key = digest_of("scenarios", server, constitution, tools)
    cached = cache.get("scenarios", key)
    if cached is not None:
        progress(f"scenarios {server}: cached")
        return _Answer.model_validate(cached).scenarios
    progress(f"scenarios {server}: asking the LLM")
    prompt = f"Server: {server}\nConstitution:\n{constitution}\n\nTools:\n{json.dumps(tools)}"
    answer = ask_json(llm, SYSTEM, prompt, _Answer, "scenarios", server)
    names = {t.tool_name for t in annotations.tools}
    written = []
    for item in answer.scenarios:
        for request in (*(step.request for step in item.steps), item.request):
            if request.server_name != server or request.tool_name not in names:
                where = f"{request.server_name}/{request.tool_name}"
                message = f"{item.description!r} calls unknown {where}"
                raise CompileError("scenarios", message, server)
        written.append(item.model_copy(update={"source": "llm"}))
    result = _Answer(scenarios=tuple(written))
    cache.put("scenarios", key, result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return result.scenarios
