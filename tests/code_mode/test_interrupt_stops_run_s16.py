"""Ctrl-C, /quit and SIGTERM stop the agent's code, not only the escalation it waits on: from
the interrupt on, the run in progress reaches no tool (the guest traps at its next call, which
its code cannot catch), and the next run starts afresh.

Found by a red team: a sandbox run is shielded from cancellation, and Ctrl-C only denied the
escalations pending at that moment, so code looping over tool calls went on making allowed calls
(280 of 300 in the reproducer) and raising new escalations after the user had said stop.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import anyio
import pytest

from appliance.agent.code_session import _uncancellable
from appliance.agent.control import SessionControl
from appliance.agent.loop import Agent, ModelSettings
from appliance.agent.model_worker import Completion
from appliance.agent.terminal import Terminal
from appliance.chokepoint.escalation.interactive import InteractivePrompt
from appliance.chokepoint.trip import SessionStopped
from appliance.sandbox import Sandbox
from appliance.sandbox.code_mode import CodeExecutor
from appliance.session.budget import Budget, ResourceBudget

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


def _write_call(number: int, path: str) -> dict:
    code = f"filesystem.write_file(path={path!r})"
    function = {"name": "execute_code", "arguments": json.dumps({"code": code})}
    return {"id": f"c{number}", "type": "function", "function": function}


class ThreeRunsThenDone:
    """A model whose first message asks for three runs at once."""

    def __init__(self) -> None:
        self.requests = 0

    async def complete(self, request, model_id, api_base) -> Completion:
        self.requests += 1
        await anyio.sleep(0)
        if self.requests == 1:
            calls = [_write_call(1, "one"), _write_call(2, "two"), _write_call(3, "three")]
            return Completion({"role": "assistant", "content": None, "tool_calls": calls}, 1, 0.0)
        return Completion({"role": "assistant", "content": "done"}, 1, 0.0)


async def test_an_interrupt_also_stops_the_other_runs_of_the_same_model_message(sandbox):
    # Found with the fix above: each run is shielded and nothing awaited between two runs of
    # one model message, so after Ctrl-C during the first the other two still ran in full.
    written: list[str] = []
    control = _control()

    class Recording(Chokepoint):
        async def call(self, server, tool, arguments):
            written.append(arguments["path"])
            control.interrupt()
            return await super().call(server, tool, arguments)

    control.executor = CodeExecutor(Recording(), sandbox, CATALOG)
    control.agent = Agent(
        model=ModelSettings("openai:scripted", api_key="sk-test"),
        execute=_uncancellable(control.executor),
        budget=Budget(ResourceBudget()),
        system="system prompt",
        client=ThreeRunsThenDone(),
    )
    assert await control.turn(lambda: control.agent.send("go")) is None  # cancelled
    assert written == ["one"]
    answers = [m["content"] for m in control.agent.messages if m.get("role") == "tool"]
    assert answers[1:] == ["ERROR: not run: interrupted"] * 2


async def test_a_stopped_session_ends_the_run_at_a_probe_for_tools_too(sandbox):
    class Stopping(Chokepoint):
        async def refused(self, *args):
            self.calls += 1
            raise SessionStopped("the audit log could not be written")

    chokepoint = Stopping()
    executor = CodeExecutor(chokepoint, sandbox, CATALOG)
    code = (
        "import sys\n"
        "raw = sys.modules['wit_world.imports.tools']\n"
        "for i in range(10_000):\n"
        "    try:\n"
        "        raw.call('shell.exec', '{}')\n"
        "    except BaseException:\n"
        "        pass\n"
    )
    with pytest.raises(SessionStopped):
        await executor.run(code)
    assert chokepoint.calls == 1
