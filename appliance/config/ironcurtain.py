"""IronCurtain's ``config.json``, read as it is: every key of its schema is honoured (rewritten
into this appliance's shape) or accepted with one warning saying it is not supported here.

IronCurtain (github.com/provos/ironcurtain) users keep their ``~/.ironcurtain``. Its config
differs from ours in three ways, each handled by the table below, before validation:

- honoured under another shape: ``auditRedaction: {"enabled": b}`` is our ``auditRedaction: b``;
  ``webSearch.<provider>.apiKey`` is our ``webSearch.apiKey`` (the configured provider's key);
  a whole-number ``resourceBudget.maxSessionSeconds`` written as a float is that integer;
- not supported here (a feature this appliance does not have): dropped, with one warning per
  key naming it (``IGNORED``);
- everything else in IronCurtain's schema has our name and meaning already.

A key in neither schema is left in place, so validation still refuses it, naming the field.
``migrate`` writes the rewritten file (this appliance's shape) after an atomic backup.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.host.atomic import write_text_atomic

__all__ = ["IGNORED", "MigrationResult", "adapt", "migrate"]

log = logging.getLogger("ironcurtain.config")

# IronCurtain keys this appliance has no feature for, with what it would have done.
IGNORED: Mapping[str, str] = {
    "prefilterModelId": "a model that pre-filters tool calls",
    "autoCompact": "conversation compaction",
    "modelProviders": "provider profiles (OpenRouter)",
    "serverCredentials": "per-server credentials for MCP servers",
    "signal": "the Signal messaging transport",
    "memory": "the memory MCP server",
    "gooseProvider": "the Goose agent",
    "gooseModel": "the Goose agent",
    "preferredDockerAgent": "agents other than Claude Code",
    "preferredMode": "choosing the session mode in the config",
    "containerRuntime": "container runtimes other than Docker",
    "dockerResources": "per-container memory and CPU limits",
    "capture": "session capture",
    "statistics": "usage statistics",
    "snapshot": "workspace snapshots",
    "dockerWorkload": "Docker workload profiles",
    "resourceBudget.warnThresholdPercent": "a budget warning threshold",
}
_SEARCH_PROVIDERS = ("brave", "tavily", "serpapi")
_warned: set[tuple[str, str]] = set()


def adapt(data: Mapping[str, Any], file: Path) -> dict[str, Any]:
    """``data`` with IronCurtain's keys rewritten into this appliance's shape (a copy).

    Logs one warning per unsupported key per file and process; never raises: whatever is still
    wrong is for validation to report."""
    out: dict[str, Any] = dict(data)
    for dotted in IGNORED:
        if _pop(out, dotted):
            _warn(file, dotted, f"{dotted} ({IGNORED[dotted]}) is not supported here; ignored")
    redaction = out.get("auditRedaction")
    if isinstance(redaction, dict) and set(redaction) <= {"enabled"}:
        if "enabled" in redaction:
            out["auditRedaction"] = redaction["enabled"]
        else:
            del out["auditRedaction"]  # IronCurtain's default: on, as ours
    search = out.get("webSearch")
    if isinstance(search, dict) and any(isinstance(search.get(p), dict) for p in _SEARCH_PROVIDERS):
        out["webSearch"] = _web_search(search, file)
    budget = out.get("resourceBudget")
    if isinstance(budget, dict):
        seconds = budget.get("maxSessionSeconds")
        if isinstance(seconds, float) and math.isfinite(seconds) and seconds > 0:
            whole = math.ceil(seconds)
            if whole != seconds:
                _warn(
                    file,
                    "resourceBudget.maxSessionSeconds",
                    f"maxSessionSeconds {seconds} is counted in whole seconds here: {whole}",
                )
            out["resourceBudget"] = {**budget, "maxSessionSeconds": whole}
    return out


def _web_search(search: dict[str, Any], file: Path) -> dict[str, Any]:
    """IronCurtain keeps one key per provider; this appliance one key, the provider's."""
    keyed = [p for p in _SEARCH_PROVIDERS if isinstance(search.get(p), dict)]
    provider = search.get("provider") or (keyed[0] if keyed else None)
    out = {k: v for k, v in search.items() if k not in _SEARCH_PROVIDERS}
    if provider is not None:
        out["provider"] = provider
    entry = search.get(provider) if isinstance(provider, str) else None
    if isinstance(entry, dict) and set(entry) <= {"apiKey"} and "apiKey" in entry:
        out["apiKey"] = entry["apiKey"]
    elif isinstance(entry, dict):
        out[provider] = entry  # not IronCurtain's shape either: validation names the field
    for other in keyed:
        if other != provider:
            _warn(
                file,
                f"webSearch.{other}",
                f"webSearch.{other} is unused: the provider is "
                f"{provider}, and this appliance keeps one search key",
            )
    return out


def _pop(data: dict[str, Any], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if not rest:
        return data.pop(head, _ABSENT) is not _ABSENT
    inner = data.get(head)
    if not isinstance(inner, dict) or rest not in inner:
        return False
    data[head] = {k: v for k, v in inner.items() if k != rest}
    return True


_ABSENT = object()


def _warn(file: Path, key: str, message: str) -> None:
    if (str(file), key) not in _warned:
        _warned.add((str(file), key))
        log.warning("%s: %s", file, message)


class MigrationResult:
    """What ``migrate`` did: the backup written (None: nothing to change) and the keys dropped."""

    def __init__(self, backup: Path | None, dropped: list[str]) -> None:
        self.backup, self.dropped = backup, dropped


def migrate(file: Path, validate: Any) -> MigrationResult:
    """Rewrite ``file`` in this appliance's shape, after an atomic backup beside it.

    ``validate(data, file)`` must accept the result (it raises otherwise, and nothing is
    written). The backup is ``config.json.ironcurtain-backup`` (a numbered one if that exists),
    written before the new file replaces the old one, both atomically."""
    text = file.read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object at the top level")
    new = adapt(data, file)
    validate(new, file)
    if new == data:
        return MigrationResult(None, [])
    dropped = [key for key in IGNORED if _has(data, key)]
    backup = file.with_name(file.name + ".ironcurtain-backup")
    number = 1
    while backup.exists():
        number += 1
        backup = file.with_name(f"{file.name}.ironcurtain-backup.{number}")
    write_text_atomic(backup, text, mode=0o600, durable_rename=True)
    write_text_atomic(file, json.dumps(new, indent=2) + "\n", mode=0o600, durable_rename=True)
    return MigrationResult(backup, dropped)


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
