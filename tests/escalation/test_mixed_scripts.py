"""tests/vectors/escalation/mixed_scripts.json: homoglyphs in what an approver is shown are
flagged, on the terminal, the console and Signal, from one function (``shown_value``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from esc_factories import trequest

from appliance.chokepoint.escalation.display import (
    format_request,
    neutralise,
    shown_arguments,
    shown_value,
)
from appliance.daemon.console import render_index
from appliance.daemon.hub import Hub, Pending
from appliance.daemon.signal import _describe

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "escalation" / "mixed_scripts.json").read_text()
)["cases"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
def test_mixed_script_vector(case: dict[str, Any]) -> None:
    assert shown_value(case["value"]) == neutralise(case["value"]) + case["flag"]


def _pending(value: str) -> Pending:
    request = trequest(
        arguments={"to": value, "body": "hi"},
        targets={"recipient": [value]},
        tool="send_email",
    )
    return Pending("1", request, Path("/n"), datetime(2026, 1, 1, tzinfo=UTC))


def test_terminal_console_and_signal_flag_a_homoglyph(tmp_path: Path) -> None:
    value = "b\u03bfss@example.com"  # a Greek omicron
    item = _pending(value)
    terminal = format_request(1, item.request)
    signal, _ = _describe(item)
    hub = Hub(registry_dir=tmp_path / "running", audit_path=tmp_path / "answers.jsonl")
    hub._pending["1"] = item
    console = render_index(hub, "t" * 32)
    for shown in (terminal, signal, console):
        # once for the recipient, once for the arguments holding it
        assert shown.count(f"{value} [mixed scripts: Greek]") == 1, shown
        assert shown.count("[mixed scripts: Greek]") == 2, shown


def test_a_wholly_cyrillic_name_is_not_flagged(tmp_path: Path) -> None:
    item = _pending("/home/u/\u0414\u043e\u043a\u0443\u043c\u0435\u043d\u0442\u044b/a.txt")
    assert "mixed scripts" not in format_request(1, item.request)
    assert "mixed scripts" not in _describe(item)[0]


def test_arguments_are_flagged_for_what_was_cut_too() -> None:
    text, whole = shown_arguments({"a": "x" * 100, "z": "p\u0430ypal"}, 20)
    assert not whole and text.endswith("more characters) [mixed scripts: Cyrillic]")
