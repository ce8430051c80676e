"""Ctrl-C, /quit and SIGTERM stop the agent's code, not only the escalation it waits on: from
the interrupt on, the run in progress reaches no tool (the guest traps at its next call, which
its code cannot catch), and the next run starts afresh.

Found by a red team: a sandbox run is shielded from cancellation, and Ctrl-C only denied the
escalations pending at that moment, so code looping over tool calls went on making allowed calls
(280 of 300 in the reproducer) and raising new escalations after the user had said stop.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import anyio
import pytest

from appliance.agent.control import SessionControl
from appliance.agent.terminal import Terminal
from appliance.chokepoint.escalation.interactive import InteractivePrompt
from appliance.chokepoint.trip import SessionStopped
from appliance.sandbox import Sandbox
from appliance.sandbox.code_mode import CodeExecutor

pytestmark = pytest.mark.anyio

CATALOG = [
    {"server": "filesystem", "name": "write_file", "description": "",
     "required": ["path"], "properties": {}},
]  # fmt: skip

LOOP = """
done = 0
for i in range(300):
    try:
        filesystem.write_file(path=str(i))
        done += 1
    except BaseException:
        pass
done
"""


class Chokepoint:
    """Counts the calls that reach it; runs ``at(n)`` when the n-th arrives."""

    def __init__(self, at=None) -> None:
        self.calls = 0
        self.at = at or {}

    async def call(self, server, tool, arguments):
        self.calls += 1
        if self.calls in self.at:
            self.at[self.calls]()
        await anyio.sleep(0)
        return SimpleNamespace(ok=True, text="written", structured=None)


@pytest.fixture
def sandbox(guest_wasm, shared_cache) -> Sandbox:
    return Sandbox(guest_wasm, cache_dir=shared_cache)


def _control() -> SessionControl:
    terminal = Terminal(out=io.StringIO(), err=io.StringIO())
    return SessionControl(terminal, InteractivePrompt(io.StringIO()), converse=True)


async def _turn(control: SessionControl, executor: CodeExecutor, code: str):
    async def work():
        with anyio.CancelScope(shield=True):  # as code_session runs it: never cut half-way
            return await executor.run(code)

    return await control.turn(work)


@pytest.mark.parametrize("stop", ["interrupt", "quit"])
async def test_the_users_stop_ends_the_runs_tool_calls(sandbox, stop):
    control = _control()
    act = control.interrupt if stop == "interrupt" else lambda: control.end("finished")
    chokepoint = Chokepoint(at={20: act})
    control.executor = CodeExecutor(chokepoint, sandbox, CATALOG)
    result = await _turn(control, control.executor, LOOP)
    assert chokepoint.calls == 20
    assert result.error is not None and result.error.kind == "stopped", result
    if stop == "interrupt":  # the session goes on: the next run is not stopped
        again = await _turn(control, control.executor, "filesystem.write_file(path='x')\n1")
        assert again.error is None and again.result == "1", again
        assert chokepoint.calls == 21


async def test_an_interrupt_between_runs_does_not_stop_the_next(sandbox):
    chokepoint = Chokepoint()
    executor = CodeExecutor(chokepoint, sandbox, CATALOG)
    executor.interrupt("interrupted by the user")
    result = await executor.run("filesystem.write_file(path='x')\n2")
    assert result.error is None and chokepoint.calls == 1


async def test_a_stopped_session_ends_the_run_at_once(sandbox):
    class Stopping(Chokepoint):
        async def call(self, server, tool, arguments):
            self.calls += 1
            raise SessionStopped("the audit log could not be written")

    chokepoint = Stopping()
    executor = CodeExecutor(chokepoint, sandbox, CATALOG)
    with pytest.raises(SessionStopped):
        await executor.run(LOOP)
    assert chokepoint.calls == 1


async def test_after_an_interrupt_a_probe_for_tools_ends_the_run_too(sandbox):
    chokepoint = Chokepoint()
    executor = CodeExecutor(chokepoint, sandbox, CATALOG)
    code = (
        "import sys\n"
        "raw = sys.modules['wit_world.imports.tools']\n"
        "filesystem.write_file(path='first')\n"
        "for i in range(10_000_000):\n"
        "    try:\n"
        "        raw.call('shell.exec', '{}')\n"
        "    except BaseException:\n"
        "        pass\n"
    )
    chokepoint.at = {1: lambda: executor.interrupt("interrupted by the user")}
    chokepoint.refused = lambda *args: pytest.fail("audited after the interrupt")
    result = await executor.run(code)
    assert result.error is not None and result.error.kind == "stopped", result
    assert result.tool_calls == 2
