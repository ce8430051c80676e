"""Progress lines: in place on a terminal, one line (and a reminder) into a pipe, never after
the wait is over."""

from __future__ import annotations

import io
import time

from appliance.agent import terminal
from appliance.agent.terminal import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_short_wait_shows_nothing():
    out = io.StringIO()
    with Progress(out, "starting", after=0.5):
        time.sleep(0.05)
    assert out.getvalue() == ""


def test_into_a_pipe_one_line_then_a_reminder(monkeypatch):
    monkeypatch.setattr(terminal, "_PIPE_REPEAT_S", 0.2)
    out = io.StringIO()
    with Progress(out, "thinking", after=0):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "· thinking…"
    assert lines[1].startswith("· still thinking… ")
    assert "\r" not in out.getvalue()


def test_on_a_terminal_the_seconds_count_in_place_and_the_line_is_cleared():
    out = FakeTty()
    with Progress(out, "thinking", after=0):
        time.sleep(1.2)
    text = out.getvalue()
    assert text.startswith("\r· thinking…")
    assert "· thinking… 1 s" in text
    assert text.endswith("\r\x1b[K")  # nothing left behind for the next line to land on
    assert "\n" not in text


def test_quiet_mode_shows_refusals_and_invalid_arguments_but_not_plain_results():
    out = io.StringIO()
    screen = terminal.Terminal(out=out, err=io.StringIO(), verbose=False)
    screen.report("result", "ok: 3 files\nDENIED: outside the sandbox")
    screen.report("result", "INVALID ARGUMENTS: 'path' is a required property")
    screen.report("result", "everything fine")
    assert out.getvalue().splitlines() == [
        "◀ DENIED: outside the sandbox",
        "◀ INVALID ARGUMENTS: 'path' is a required property",
    ]
