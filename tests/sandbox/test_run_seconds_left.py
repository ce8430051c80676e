"""What a ``call_tool`` learns of the run's overall wall-clock limit, and how it cuts a call off
there: ``linking.run_seconds_left()`` on the run's thread, ``RunStopped(..., run_limit=True)``.
Code Mode's executor does both (tests/code_mode/test_run_limit_cuts_calls.py, with the real
chokepoint); here a plain ``call_tool`` against the real guest."""

from __future__ import annotations

import math
import threading

from appliance.sandbox import Limits, Sandbox
from appliance.sandbox.limits import RunStopped
from appliance.sandbox.linking import run_seconds_left

CODE = """
for _ in range(3):
    try:
        filesystem.read_text_file(path='a')
    except BaseException:
        pass
print('never')
"""


def test_a_call_tool_sees_the_time_left_and_cuts_a_call_off(sandbox: Sandbox, catalog) -> None:
    seen: list[float] = []

    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        seen.append(run_seconds_left())
        if len(seen) == 2:
            raise RunStopped("a tool call still in progress was cut off there", run_limit=True)
        return True, '{"text": "hello"}'

    result = sandbox.run(CODE, call_tool, catalog, Limits(run_wall_seconds=7.0))
    assert len(seen) == 2, "the cut-off is a trap: the code's except clause never runs"
    assert all(0 < left <= 7.0 for left in seen) and seen[0] >= seen[1]
    assert result.error is not None and result.error.kind == "run_deadline", result
    assert result.error.message == (
        "the run passed its overall wall-clock limit (7 s, tool calls included; "
        "Limits.run_wall_seconds): a tool call still in progress was cut off there"
    )
    assert result.stdout == ""


def test_a_plain_stop_is_still_a_stop(sandbox: Sandbox, catalog) -> None:
    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        raise RunStopped("interrupted by the user")

    result = sandbox.run(CODE, call_tool, catalog)
    assert result.error is not None and result.error.kind == "stopped", result


def test_no_time_limit_outside_a_run() -> None:
    assert run_seconds_left() == math.inf
    other: list[float] = []
    thread = threading.Thread(target=lambda: other.append(run_seconds_left()))
    thread.start()
    thread.join()
    assert other == [math.inf]
