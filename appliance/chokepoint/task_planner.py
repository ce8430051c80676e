"""The optional task planner: an LLM that reads the user's message, and nothing else, and says
which tool each part of it asks for (``taskPlan.enabled``; off by default).

What it may do is bounded by ``policy.task_plan.check_plan``: every step names a tool of the
policy with side effects and an ``askedBy``, and quotes the message literally (so does what it
says a step acts on, ``about``); the values a tool may then use are still only those the user
typed. It never sees a tool result, a document
or the agent's output, so nothing the agent reads can reach it. Any failure (an error, a
timeout, an answer that is not the JSON asked for) means no plan: the request is read by the
deterministic reader alone, as with the planner off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import anyio

from appliance.agent.loop import complete_once, import_litellm
from appliance.config.model_settings import ModelSettings
from policy.api import CheckedPlan, Policy, check_plan

__all__ = ["PROMPT", "TaskPlanner", "plan_messages", "tool_lines"]

# The system prompt, word for word as the benchmark's recorded plans were answered
# (tests/vectors/session_policy/round17/*/plans.json carry its digest).
PROMPT = """\
You read one request a user typed to an AI agent, before the agent starts, and say which of the \
agent's tools that change something the request asks it to use, and for which part of the \
request. You see only the user's words and the list of tools: no tool results, no documents.

Answer with JSON only, in this form:
{"steps": [{"tool": "<server>/<tool>", "quote": "<part of the request>", "about": "<part of the \
request>", "if": false}]}

- "tool": one of the listed tools marked as changing something, written exactly as listed.
- "quote": copied character for character from the request (same case, same punctuation): the \
shortest stretch that says what to do and to what or whom, with the names, ids, amounts and dates \
that belong to that action. Leave out background, questions to the user, and anything the user \
says not to do.
- One step per action the user asks for. Two tools for one part of the request: two steps with \
the same quote.
- When the user corrects themselves ("70k - no, sorry, 69,750"), quote only the corrected version.
- "about": only when the quote does not itself name what the action is done to or for, but \
points to it ("cancel it", "refund that order", "archive all of his"): the words elsewhere in \
the request that name or describe it ("the blue sofa from Nordhaus", "Viktor"), copied character \
for character, as short as still tells it apart. Leave "about" out otherwise.
- "if": true when the user makes the action depend on something the agent has to find out first \
("if she has", "unless it is public", "as long as CI is green"); otherwise false.
- Only what the user asks for. A tool that would merely help, or that the user mentions without \
asking for it, gets no step. When nothing in the request asks for a change, answer {"steps": []}.
"""

MAX_MESSAGE_CHARS = 8000  # a longer message is planned from its first part (and read whole)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def tool_lines(policy: Policy) -> list[str]:
    """The tools as the planner sees them: name, annotated arguments, whether it changes
    something. Nothing of the policy's rules or lists."""
    lines = []
    for server, tools in policy.annotations.items():  # in the annotations file's order
        for name, annotation in tools.items():
            kind = "changes something" if annotation.side_effects else "reads only"
            args = ", ".join(sorted(annotation.args))
            lines.append(f"- {server}/{name} ({args}) — {kind}")
    return lines


def plan_messages(text: str, tools: Iterable[str]) -> list[dict[str, str]]:
    user = "Tools:\n" + "\n".join(tools) + "\n\nRequest:\n" + text[:MAX_MESSAGE_CHARS]
    return [{"role": "system", "content": PROMPT}, {"role": "user", "content": user}]


def parse_answer(answer: str) -> Any:
    """The JSON of the model's answer (a code fence around it tolerated), else None."""
    fenced = _FENCE.match(answer)
    try:
        return json.loads(fenced.group(1) if fenced else answer)
    except (ValueError, RecursionError):
        return None


class TaskPlanner:
    def __init__(self, model: ModelSettings, timeout_s: float = 30.0) -> None:
        self.model = model
        self.timeout_s = timeout_s
        # Imported now, not inside the timed call: the import alone takes seconds.
        import_litellm()

    async def plan(self, text: str, policy: Policy) -> CheckedPlan:
        """The checked plan of the user's message; no step when the model fails."""
        if not policy.annotations or not text.strip():
            return CheckedPlan((), ())
        messages = plan_messages(text, tool_lines(policy))
        answer: str | None = None
        with anyio.move_on_after(self.timeout_s):
            try:
                answer = await anyio.to_thread.run_sync(self._ask, messages, abandon_on_cancel=True)
            except Exception as exc:  # any failure of the call: no plan, said once
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                return CheckedPlan((), (f"the planner failed ({type(exc).__name__}: {first})",))
        if answer is None:
            return CheckedPlan((), (f"the planner did not answer within {self.timeout_s:g} s",))
        raw = parse_answer(answer)
        if raw is None:
            return CheckedPlan((), ("the planner's answer is not JSON: nothing of it is used",))
        return check_plan(raw, text, policy)

    def _ask(self, messages: list[dict[str, str]]) -> str:
        return complete_once(self.model, messages, self.timeout_s, temperature=0, max_tokens=1500)
