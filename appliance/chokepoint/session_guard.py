"""The chokepoint's session state in the audit: what the engine saw and what a call recorded.

The state itself is the pure ``policy.api.SessionRun`` the :class:`~appliance.chokepoint.trip.
Chokepoint` owns, one per session (the same one ``policy test`` sequences and the benchmark run).
Each call is judged with the state as it stands plus the provenance hits of its arguments; the
update is applied only when the call goes ahead (allowed, or escalated and approved), never for
a refused one. The state the engine saw and the update go into the call's audit record (below), so
``policy replay`` re-decides with the same state; task grants get their own record
(``type: "task-grants"``), and the ids a listing's result bound to the task
(``policy.task_binding``) are the call record's ``taskBindings``. The update is written first in
the call's ``intent`` record (before the server is called), so a call whose host died while its
server worked still counts on resume; the completed record repeats it and names the intent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policy.api import (
    SECRET_MARK,
    Judged,
    SessionRun,
    StateUpdate,
    apply_updates,
    score_of_count,
)

__all__ = ["audit_fields", "restore"]


def audit_fields(judged: Judged, *, applied: bool) -> dict[str, Any]:
    """``session`` (the state the engine saw) and, when the call went ahead (``applied``),
    ``sessionUpdate``: what it recorded."""
    fields: dict[str, Any] = {}
    seen = judged.seen.audit_form()
    for key in ("tainted", "copied"):
        found = seen.get(key)
        if isinstance(found, dict) and "secret" in found:
            # The pieces (and copied runs) of a secret result are the secret: the log keeps
            # only that there were some (policy replay then treats the label as saturated).
            found["secret"] = [SECRET_MARK] * len(found["secret"])
    if seen:
        fields["session"] = seen
    if applied and not judged.update.empty:
        fields["sessionUpdate"] = judged.update.audit_form()
    return fields


def restore(run: SessionRun, records: Iterable[dict[str, Any]]) -> int:
    """A resumed session's state, rebuilt from its audit log: task grants and the updates of
    the calls that went ahead, in order (each once: from its intent record, or from a call
    record that names no intent, as logs before intents have). Returns how many records
    contributed.

    The provenance memory cannot be rebuilt (results are not in the log): when an earlier call
    read a result of a label the policy remembers, that label starts *saturated* (every value
    counts as carrying it), so a resume never forgets where text came from."""
    used = 0
    for record in records:
        updates = _updates_of(record)
        for update in updates:
            run.state = apply_updates(run.state, update)
        used += bool(updates)
        scores = record.get("taskBindingScores")
        if isinstance(scores, dict):  # the best binding each list had: a narrower listing later
            for name, score in scores.items():  # binds nothing worse than before the resume
                if isinstance(score, int) and not isinstance(score, bool):
                    score = _current_score(score)
                    run.binding_best[name] = max(run.binding_best.get(name, 0), score)
        label = _label_read(run, record)
        if label is not None:
            run.memory.saturated.add(label)
    return used


def _updates_of(record: dict[str, Any]) -> list[StateUpdate]:
    if record.get("type") == "task-grants" and isinstance(record.get("grants"), dict):
        return [StateUpdate(extend=_task_lists(record["grants"]))]
    updates = []
    counted = record.get("type") == "call" and "intent" in record  # counted at its intent
    if isinstance(record.get("sessionUpdate"), dict) and not counted:
        updates.append(StateUpdate.model_validate(record["sessionUpdate"]))
    if isinstance(record.get("taskBindings"), dict):  # ids a listing bound to the task
        updates.append(StateUpdate(extend=_task_lists(record["taskBindings"])))
    return updates


def _task_lists(lists: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {
        name: tuple(str(v) for v in values)
        for name, values in lists.items()
        if name.startswith("task:") and isinstance(values, list)
    }


def _current_score(score: int) -> int:
    """A score as ``bind_records`` writes it now (object words, all words, possessors: see
    there). A log from before the object words held a count of all words only, below 100: it
    is read as if the object had met every one of them (``score_of_count``), the strictest
    reading (a later listing must meet as many), never a looser one."""
    return score_of_count(score) if 0 < score < 100 else score


def _label_read(run: SessionRun, record: dict[str, Any]) -> str | None:
    """The label of a result an earlier call returned (a call that reached its server)."""
    # a call that reached its server, or whose server's failure text the agent read
    failed = record.get("rule") in (
        "server-judge",
        "server-unavailable",
        "structural-changed-since-approved",  # judged again after approval: the judge may fail
    )
    if (record.get("status") not in ("ok", "error", "server-error") and not failed) or (
        "server" not in record
    ):
        return None
    annotation = run.policy.annotations.get(record["server"], {}).get(record.get("tool"))
    label = (annotation.result if annotation is not None else None) or "untrusted"
    return None if label == "trusted" else label
