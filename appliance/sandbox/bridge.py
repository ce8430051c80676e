"""The host side of the guest's only import, ``tools.call(name, args-json)``.

Everything that arrives here was produced by untrusted code, so it is checked before the
caller's ``call_tool`` (the chokepoint) sees it: the tool must be in this run's catalogue, the
arguments must be a JSON object within `policy.safe_json`'s limits (size cap, depth cap, no
NaN/Infinity, no duplicate keys), and the number of calls is bounded. From the guest the name and
the arguments arrive unread (``crossing.GuestText``): their sizes are checked before either is
copied into the host. Errors
are answered to the agent as short messages; exceptions of ``call_tool`` never reach the guest.

A call to a tool outside the catalogue (the guest's raw import reaches the host with any name)
is refused here and handed to ``on_refused``, which Code Mode points at the chokepoint's audit:
a probe for tools leaves a trace, as it does through the Docker gate socket.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from appliance.sandbox.crossing import GuestText, TextTooLarge
from appliance.sandbox.limits import MAX_TOOL_NAME_BYTES, Limits, RunStopped
from policy.api import JSONRefused
from policy.api import loads as safe_loads

__all__ = ["CallTool", "OnRefused", "ToolBridge", "clean_catalog"]

log = logging.getLogger(__name__)

CallTool = Callable[[str, str], tuple[bool, str]]
# (name, arguments, reason) of a call refused for its name; must not raise into the guest.
OnRefused = Callable[[str, dict, str], None]
_CATALOG_KEYS = ("server", "name", "description", "required", "properties")
# MCP's rule for tool names (SEP-986). A server name has no dot: ``server.tool`` is split at
# the first one, so "a.b" + "c" would be called as server "a", tool "b.c".
_NAMES = {
    "server": re.compile(r"[A-Za-z0-9_-]{1,64}"),
    "name": re.compile(r"[A-Za-z0-9_.-]{1,128}"),
}


def clean_catalog(catalog: list[dict]) -> list[dict]:
    """The catalogue as the guest and the model see it: only the documented keys, in order.

    The servers wrote it (a declared one is only semi-trusted), so an entry is kept only when
    its server and tool names fit ``_NAME`` (MCP's own rule for tool names), its ``required``
    and ``properties`` have their shapes, and the whole entry is strict JSON (no NaN, no lone
    surrogate): anything else is left out, with a warning for the operator, instead of failing
    every run (an empty tool name did) or breaking the guest's answers and the model's requests.
    """
    cleaned = []
    for index, entry in enumerate(catalog):
        problem, kept = _clean_entry(entry)
        if problem is not None:
            log.warning("tool catalogue entry %d left out of Code Mode: %s", index, problem)
            continue
        cleaned.append(kept)
    return cleaned


def _clean_entry(entry: object) -> tuple[str | None, dict]:
    if not isinstance(entry, dict):
        return f"expected an object, got {type(entry).__name__}", {}
    for key, pattern in _NAMES.items():
        value = entry.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"{key} {str(value)[:80]!r} does not match {pattern.pattern}", {}
    required = entry.get("required") or []
    properties = entry.get("properties") or {}
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return "required: expected a list of strings", {}
    if not isinstance(properties, dict):
        return "properties: expected an object", {}
    description = entry.get("description") or ""
    values = (entry["server"], entry["name"], str(description), required, properties)
    kept = dict(zip(_CATALOG_KEYS, values, strict=True))
    try:
        json.dumps(kept, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # lone surrogates are ValueErrors
        return f"{entry['server']}.{entry['name']}: not strict JSON ({str(exc)[:120]})", {}
    return None, kept


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

    def call_guest(self, name: GuestText, args_json: GuestText) -> tuple[bool, str]:
        """The guest's call, its strings still unread: each is sized against its cap first."""
        try:
            name_text = name.read(MAX_TOOL_NAME_BYTES)
        except TextTooLarge as exc:
            self.calls += 1
            return False, f"ERROR: tool name too long ({exc})"
        try:
            args_text: str | JSONRefused = args_json.read(self._limits.max_args_bytes)
        except TextTooLarge as exc:
            args_text = JSONRefused(f"too large ({exc})")
        return self(name_text, args_text)

    def __call__(self, name: str, args_json: str | JSONRefused) -> tuple[bool, str]:
        """A call; ``args_json`` is already a refusal when the guest's arguments were too large."""
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

    def _check(self, name: str, args_json: str | JSONRefused) -> str | None:
        limits = self._limits
        if self.calls > limits.max_tool_calls:
            return (
                f"limit of {limits.max_tool_calls} tool calls per execution reached; "
                "do the rest in another execution"
            )
        if len(name.encode("utf-8", "surrogatepass")) > MAX_TOOL_NAME_BYTES:
            return f"tool name too long (the limit is {MAX_TOOL_NAME_BYTES} bytes)"
        if isinstance(args_json, JSONRefused):
            args = args_json
        else:
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
        except RunStopped:
            raise  # the run was interrupted meanwhile: it ends here too
        except Exception:  # the refusal stands; the operator learns why it was not recorded
            log.exception("recording the refused sandbox tool call %r failed", name)
