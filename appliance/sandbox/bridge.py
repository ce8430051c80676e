"""The host side of the guest's only import, ``tools.call(name, args-json)``.

Everything that arrives here was produced by untrusted code, so it is checked before the
caller's ``call_tool`` (the chokepoint) sees it: the tool must be in this run's catalogue, the
arguments must be a JSON object within `policy.safe_json`'s limits (size cap, depth cap, no
NaN/Infinity, no duplicate keys), and the number of calls is bounded. Errors
are answered to the agent as short messages; exceptions of ``call_tool`` never reach the guest.

A call to a tool outside the catalogue (the guest's raw import reaches the host with any name)
is refused here and handed to ``on_refused``, which Code Mode points at the chokepoint's audit:
a probe for tools leaves a trace, as it does through the Docker gate socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.sandbox.limits import Limits, RunStopped
from policy.api import JSONRefused
from policy.api import loads as safe_loads

__all__ = ["CallTool", "OnRefused", "ToolBridge", "clean_catalog"]

log = logging.getLogger(__name__)

CallTool = Callable[[str, str], tuple[bool, str]]
# (name, arguments, reason) of a call refused for its name; must not raise into the guest.
OnRefused = Callable[[str, dict, str], None]
# Longer than any server.tool name (a server name is at most 64 characters): refused before it
# can fill an audit record with megabytes of name.
MAX_NAME_CHARS = 256
_CATALOG_KEYS = ("server", "name", "description", "required", "properties")


def clean_catalog(catalog: list[dict]) -> list[dict]:
    """The catalogue as the guest sees it: only the documented keys, checked, in order."""
    cleaned = []
    for index, entry in enumerate(catalog):
        if not isinstance(entry, dict):
            raise ValueError(f"catalog[{index}]: expected an object, got {type(entry).__name__}")
        for key in ("server", "name"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ValueError(f"catalog[{index}].{key}: expected a non-empty string")
        required = entry.get("required") or []
        properties = entry.get("properties") or {}
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ValueError(f"catalog[{index}].required: expected a list of strings")
        if not isinstance(properties, dict):
            raise ValueError(f"catalog[{index}].properties: expected an object")
        description = str(entry.get("description") or "")
        cleaned.append(
            dict(
                zip(
                    _CATALOG_KEYS,
                    (entry["server"], entry["name"], description, required, properties),
                    strict=True,
                )
            )
        )
    return cleaned


class ToolBridge:
    """One execution's view of the tools: its catalogue, its caller, its call counter."""

    def __init__(
        self,
        call_tool: CallTool,
        catalog: list[dict],
        limits: Limits,
        on_refused: OnRefused | None = None,
    ) -> None:
        self._call_tool = call_tool
        self._on_refused = on_refused
        self._known = frozenset(f"{e['server']}.{e['name']}" for e in catalog)
        self._limits = limits
        self.calls = 0

    def __call__(self, name: str, args_json: str) -> tuple[bool, str]:
        self.calls += 1
        problem = self._check(name, args_json)
        if problem:
            return False, f"ERROR: {problem}"
        try:
            ok, text = self._call_tool(name, args_json)
        except RunStopped:
            raise  # the run ends here: linking turns it into a trap
        except Exception:
            # The operator gets the details; the agent only learns that the call failed.
            log.exception("sandbox tool call %r failed in the host", name)
            return (
                False,
                "ERROR: the tool call failed inside the host; the operator log has details",
            )
        if not isinstance(ok, bool) or not isinstance(text, str):
            log.error("call_tool for %r returned %r, expected (bool, str)", name, (ok, text))
            return (
                False,
                "ERROR: the tool call failed inside the host; the operator log has details",
            )
        return ok, text

    def _check(self, name: str, args_json: str) -> str | None:
        limits = self._limits
        if self.calls > limits.max_tool_calls:
            return (
                f"limit of {limits.max_tool_calls} tool calls per execution reached; "
                "do the rest in another execution"
            )
        if len(name) > MAX_NAME_CHARS:
            return f"tool name too long ({len(name)} characters; the limit is {MAX_NAME_CHARS})"
        try:
            args = safe_loads(args_json, max_bytes=limits.max_args_bytes)
        except JSONRefused as exc:
            args = exc
        if name not in self._known:
            problem = f"unknown tool {name!r}; help() lists the available tools"
            self._refused(name, args if isinstance(args, dict) else {}, problem)
            return problem
        if isinstance(args, JSONRefused):
            return f"arguments {args}"
        if not isinstance(args, dict):
            return "arguments must be a JSON object"
        return None

    def _refused(self, name: str, args: dict, problem: str) -> None:
        if self._on_refused is None:
            return
        try:
            self._on_refused(name, args, problem)
        except Exception:  # the refusal stands; the operator learns why it was not recorded
            log.exception("recording the refused sandbox tool call %r failed", name)
