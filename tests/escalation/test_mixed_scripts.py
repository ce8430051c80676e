"""tests/vectors/escalation/mixed_scripts.json and lookalike_names.json: homoglyphs in what an
approver is shown (a word mixing scripts, a name wholly in lookalike letters, a punycode name)
are flagged, on the terminal, the console and Signal, from one function (``shown_value``)."""

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

VECTORS = [
    case
    for name in ("mixed_scripts.json", "lookalike_names.json")
    for case in json.loads(
        (Path(__file__).parents[1] / "vectors" / "escalation" / name).read_text()
    )["cases"]
]


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


def _surfaces(item: Pending, tmp_path: Path) -> tuple[str, str, str]:
    """The terminal's, Signal's and the web console's text for one escalation."""
    terminal = format_request(1, item.request)
    signal, _ = _describe(item)
    hub = Hub(registry_dir=tmp_path / "running", audit_path=tmp_path / "answers.jsonl")
    hub._pending["1"] = item
    return terminal, signal, render_index(hub, "t" * 32, base="/c/x/")


def test_terminal_console_and_signal_flag_a_homoglyph(tmp_path: Path) -> None:
    value = "b\u03bfss@example.com"  # a Greek omicron
    for shown in _surfaces(_pending(value), tmp_path):
        # once for the recipient, once for the arguments holding it
        assert shown.count(f"{value} [mixed scripts: Greek]") == 1, shown
        assert shown.count("[mixed scripts: Greek]") == 2, shown


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("support@\u0430\u0440\u0440\u04cf\u0435.com", " [Latin lookalike: Cyrillic]"),
        (
            "support@xn--80ak6aa92e.com",
            " [punycode: \u0430\u0440\u0440\u04cf\u0435.com] [Latin lookalike: Cyrillic]",
        ),
        ("support@xn--zz99999999.com", " [invalid punycode: xn--zz99999999.com]"),
    ],
    ids=["lookalike", "punycode", "invalid-punycode"],
)
def test_terminal_console_and_signal_flag_a_lookalike_name(
    value: str, flag: str, tmp_path: Path
) -> None:
    for shown in _surfaces(_pending(value), tmp_path):
        assert shown.count(f"{value}{flag}") == 1, shown  # the recipient
        assert shown.count(flag) == 2, shown  # and the arguments holding it


def test_a_wholly_cyrillic_name_is_not_flagged(tmp_path: Path) -> None:
    item = _pending("/home/u/\u0414\u043e\u043a\u0443\u043c\u0435\u043d\u0442\u044b/a.txt")
    for shown in _surfaces(item, tmp_path):
        assert "mixed scripts" not in shown and "lookalike" not in shown


def test_a_cut_call_is_flagged_for_the_punycode_it_cut() -> None:
    text, whole = shown_arguments({"a": "x" * 100, "z": "https://xn--80ak6aa92e.com/"}, 20)
    assert not whole and text.endswith(
        "more characters) [punycode: \u0430\u0440\u0440\u04cf\u0435.com]"
        " [Latin lookalike: Cyrillic]"
    )


def test_arguments_are_flagged_for_what_was_cut_too() -> None:
    text, whole = shown_arguments({"a": "x" * 100, "z": "p\u0430ypal"}, 20)
    assert not whole and text.endswith("more characters) [mixed scripts: Cyrillic]")
