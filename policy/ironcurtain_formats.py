"""IronCurtain's released file shapes, rewritten into this appliance's before validation.

IronCurtain (github.com/provos/ironcurtain) users bring their policy folders unchanged. Its
annotation files differ from ours in two ways that are pure spelling, so they are rewritten here
as JSON and the one validated model stays the only place that says what a file means:

- C1: each tool carries the ``inputSchema`` its server reported at annotation time (IronCurtain
  0.9 on). Our model keeps it too (``ToolAnnotation.input_schema``): the chokepoint refuses a
  tool whose live schema differs from the one it was annotated against (a stale annotation).
- C2: a conditional role's clause is ``{"condition": {"arg", "equals"|"in"|"is"}, "roles"}``
  (0.7 on); ours is flat, ``{"arg", "equals"|"in"|"is", "roles"}``.

C3 (roles this engine did not know) and C4 (``is``) are not spelling: the roles are declared
defaults (``policy/declared_roles.json``) and ``is`` is an operator of ``WhenClause``.
Everything else in an IronCurtain file already has our shape (rules, lists, scenarios with
``not-allow``). A shape we do not recognise is left as it is, for validation to report.
"""

from __future__ import annotations

from typing import Any

__all__ = ["normalise_annotations"]


def normalise_annotations(data: Any) -> Any:
    """``tool-annotations.json`` as IronCurtain writes it → this appliance's shape (a copy)."""
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        return data
    servers = {}
    for name, entry in data["servers"].items():
        if isinstance(entry, dict) and isinstance(entry.get("tools"), list):
            entry = {**entry, "tools": [_tool(tool) for tool in entry["tools"]]}
        servers[name] = entry
    return {**data, "servers": servers}


def _tool(tool: Any) -> Any:
    if not isinstance(tool, dict):
        return tool
    tool = dict(tool)
    if isinstance(tool.get("args"), dict):
        tool["args"] = {key: _roles(spec) for key, spec in tool["args"].items()}
    return tool


def _roles(spec: Any) -> Any:
    if not isinstance(spec, dict) or not isinstance(spec.get("when"), list):
        return spec
    return {**spec, "when": [_clause(clause) for clause in spec["when"]]}


def _clause(clause: Any) -> Any:
    """``{"condition": {...}, "roles": [...]}`` → ``{..., "roles": [...]}``; other keys kept so
    that a clause with both shapes mixed is reported, not silently merged."""
    if not isinstance(clause, dict) or not isinstance(clause.get("condition"), dict):
        return clause
    flat = {key: value for key, value in clause.items() if key != "condition"}
    for key, value in clause["condition"].items():
        if key in flat:
            return clause  # 'arg' both inside and outside the condition: let validation say so
        flat[key] = value
    return flat
