"""Read-only console pages: a session's audit trail with its verification, and the active policy
with the configured budgets.

The daemon reads these files, never writes them. The audit file is checked with the same
``verify_file`` as ``ironcurtain audit verify`` (hash chain; a torn last line is reported, not
hidden). The budget is read from ``config.json``'s ``resourceBudget`` section alone, so the daemon
never loads a provider key. Session ids in URLs are held to the registry's id shape and looked up
under ``sessions/`` only; nothing in a URL becomes a path any other way.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from appliance.chokepoint.audit import verify_file
from appliance.config.paths import AppPaths
from appliance.config.settings import ResourceBudget
from appliance.session.state_file import read_state

__all__ = ["render_policy", "render_session", "valid_session_id"]

_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_MAX_ROWS = 500
# Rows: one per call (its completed record), and one per call a resumed session found sent
# with no result (``outcome-unknown``); an intent is shown only through verify's finding.
_SHOWN = frozenset({"call", "outcome-unknown"})
# How much of a session's session.json the daemon reads (it polls every session it watches).
STATE_READ_LIMIT = 65536


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def valid_session_id(text: str) -> bool:
    return bool(_SESSION_ID.fullmatch(text))


def render_session(paths: AppPaths, session_id: str) -> str | None:
    """The audit page, or None when there is no such session."""
    if not valid_session_id(session_id):
        return None
    audit = paths.session_dir(session_id) / "audit.jsonl"
    if not audit.is_file() or audit.is_symlink():
        return None
    result = verify_file(audit)
    if result.ok:
        status = f"verified: {result.entries} records, hash chain intact"
        status += ", closed" if result.ended else ", still open"
    else:
        status = f"NOT VERIFIED: line {result.first_bad_line}: {result.problem}"
    if result.dangling:
        sent = "; ".join(call.describe() for call in result.dangling)
        status += f"; sent to a server with no result recorded (outcome unknown): {sent}"
    rows = []
    for line in audit.read_text(errors="replace").splitlines()[-_MAX_ROWS:]:
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("type") not in _SHOWN:
            continue  # an intent's call shows by its record (or, never answered, as below)
        if record.get("type") == "outcome-unknown":
            record = {**record, "status": "outcome unknown"}
        escalation = record.get("escalation") or {}
        answered = (
            f"{escalation.get('outcome', '')} by {escalation.get('by', '')}" if escalation else ""
        )
        rows.append(
            f"<tr><td>{_e(record.get('ts', ''))}</td><td>{_e(record.get('server'))}/"
            f"{_e(record.get('tool'))}</td><td>{_e(record.get('decision', ''))}</td>"
            f"<td><code>{_e(record.get('rule', ''))}</code></td><td>{_e(answered)}</td>"
            f"<td>{_e(record.get('status', ''))}</td></tr>"
        )
    kind = "ok" if result.ok else "bad"
    return (
        f'<h2>Session {_e(session_id)}</h2><p id="verify" class="{kind}">{_e(status)}</p>'
        f"{_usage(paths.session_dir(session_id))}<table><tr><th>time</th><th>call</th><th>decision</th><th>rule</th>"
        f"<th>escalation</th><th>status</th></tr>{''.join(rows)}</table>"
    )


def budget_use(session_dir: Path) -> dict[str, tuple[float, float | None]]:
    """A session's budget use as it last wrote it in ``session.json`` (after each model step):
    ``{name: (used, limit)}``; {} when it has written none or the file is unreadable."""
    budget = read_state(session_dir, STATE_READ_LIMIT).get("budget")
    if not isinstance(budget, dict):
        return {}
    found = {}
    for name, pair in budget.items():
        if (
            isinstance(name, str)
            and isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], int | float)
            and (pair[1] is None or isinstance(pair[1], int | float))
        ):
            found[name] = (pair[0], pair[1])
    return found


def _usage(session_dir: Path) -> str:
    use = budget_use(session_dir)
    if not use:
        return '<p id="budget">budget use: not reported yet</p>'
    cells = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(used)}</td><td>"
        f"{_e(limit) if limit is not None else 'no limit'}</td></tr>"
        for name, (used, limit) in use.items()
    )
    return f'<table id="budget"><tr><th>budget</th><th>used</th><th>limit</th></tr>{cells}</table>'


def _budget(paths: AppPaths) -> ResourceBudget | str:
    try:
        raw = json.loads(paths.config_file.read_text())
    except FileNotFoundError:
        return ResourceBudget()
    except (OSError, ValueError) as exc:
        return f"{paths.config_file}: unreadable ({exc})"
    section = raw.get("resourceBudget", {}) if isinstance(raw, dict) else {}
    try:
        return ResourceBudget.model_validate(section)
    except ValueError as exc:
        return f"{paths.config_file}: resourceBudget is invalid ({exc})"


def render_policy(paths: AppPaths) -> str:
    from appliance.session.core import policy_dir_for
    from policy.api import describe_condition, load_policy

    budget = _budget(paths)
    if isinstance(budget, str):
        budget_html = f"<p>{_e(budget)}</p>"
    else:
        budget_html = (
            "<table>"
            + "".join(
                f"<tr><th>{_e(name)}</th><td>{_e('no limit' if value is None else value)}</td></tr>"
                for name, value in budget.model_dump().items()
            )
            + "</table>"
        )
    try:
        policy = load_policy(policy_dir_for(paths))
    except Exception as exc:  # a broken policy is shown as such; sessions refuse to start on it
        return (
            f"<h2>Policy</h2><p>cannot load the policy: {_e(exc)}</p><h2>Budgets</h2>{budget_html}"
        )
    rules = "".join(
        f"<tr><td>{index}</td><td><code>{_e(rule.name)}</code></td>"
        f"<td>{_e(str(rule.then).upper())}</td><td>{_e(describe_condition(rule.when))}</td>"
        f"<td>{_e(rule.reason)}</td></tr>"
        for index, rule in enumerate(policy.rules, start=1)
    )
    return (
        f"<h2>Policy</h2><p>{_e(policy.source)} (digest <code>{_e(policy.digest[:16])}</code>);"
        " anything no rule covers is denied.</p><table><tr><th>#</th><th>rule</th><th>effect</th>"
        f"<th>when</th><th>why</th></tr>{rules}</table>"
        f"<h2>Budgets (per session, from config.json)</h2>{budget_html}"
    )
