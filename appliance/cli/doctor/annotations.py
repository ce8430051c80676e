"""Servers whose tools the policy cannot judge: tools with no annotation, and tools annotated for
an input schema they no longer have.

The chokepoint refuses both at every call (``structural-unannotated-tool``,
``structural-stale-annotation``); doctor says so before a session does, one check per server
(``annotations:NAME``) with the command that fixes it. The server probe (``servers.py``) hands
over the tools each server listed; the policy is the one a session would load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.cli.doctor.base import Check, Facts, ok, warn

__all__ = ["annotation_checks"]

_SHOWN = 5  # tool names named in a finding; the rest are counted


def annotation_checks(facts: Facts, listed: Mapping[str, Mapping[str, Any]]) -> list[Check]:
    """One check per server in ``listed`` (server -> tool -> live input schema)."""
    from appliance.session.core import policy_dir_for
    from policy.api import PolicyLoadError, load_policy

    try:
        policy = load_policy(policy_dir_for(facts.paths))
    except PolicyLoadError:
        return []  # the policy group reports a policy that does not load
    return [
        _check(server, tools, policy.annotations.get(server, {}))
        for server, tools in listed.items()
    ]


def _check(server: str, tools: Mapping[str, Any], annotated: Mapping[str, Any]) -> Check:
    from appliance.chokepoint.trip import same_schema

    name = f"annotations:{server}"
    missing = sorted(set(tools) - set(annotated))
    stale = sorted(
        tool
        for tool, schema in tools.items()
        if tool in annotated
        and annotated[tool].input_schema is not None
        and not same_schema(annotated[tool].input_schema, schema)
    )
    if not missing and not stale:
        return ok(name, f"all {len(tools)} tools annotated", required=False)
    parts = []
    if missing:
        parts.append(f"{len(missing)} without annotations ({_names(missing)})")
    if stale:
        parts.append(f"{len(stale)} changed their input schema since annotated ({_names(stale)})")
    detail = "; ".join(parts) + ": every call to them is refused"
    return warn(name, detail, f"ironcurtain servers annotate {server}")


def _names(tools: list[str]) -> str:
    more = len(tools) - _SHOWN
    return ", ".join(tools[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
