"""The sandbox's contract with the agent, run in the real guest under the real wasmtime."""

from __future__ import annotations

import json

import pytest

from appliance.sandbox import Limits, RunResult, Sandbox, SandboxError


def test_last_expression_is_the_result(sandbox, tools, catalog):
    result = sandbox.run("x = 20\nx * 2 + 2", tools, catalog)
    assert result.ok, result
    assert result.result == "42"
    assert result.fuel_used > 0
    assert result.duration_s > 0


def test_variable_named_result_when_no_last_expression(sandbox, tools, catalog):
    result = sandbox.run("result = {'a': [1, 2], 'b': None}", tools, catalog)
    assert json.loads(result.result) == {"a": [1, 2], "b": None}


def test_value_that_is_not_json_comes_back_as_repr(sandbox, tools, catalog):
    assert sandbox.run("{1, 2} | {3}", tools, catalog).result == "{1, 2, 3}"


def test_stdout_and_stderr_are_captured_not_inherited(sandbox, tools, catalog, capfd):
    code = "import os\nprint('to stdout')\nos.write(1, b'raw fd write')\nprint('oops', file=None)"
    result = sandbox.run(code + "\nimport io", tools, catalog)
    assert result.stdout == "to stdout\noops\n"
    captured = capfd.readouterr()
    assert "raw fd write" not in captured.out + captured.err
    assert "to stdout" not in captured.out


def test_tool_call_reaches_call_tool_and_json_comes_back_parsed(sandbox, tools, catalog):
    code = "r = filesystem.read_text_file(path='notes.md')\nr['text'].upper()"
    result = sandbox.run(code, tools, catalog)
    assert result.result == '"HELLO"'
    assert tools.calls == [("filesystem.read_text_file", {"path": "notes.md"})]
    assert result.tool_calls == 1


def test_positional_arguments_fill_required_ones_in_order(sandbox, tools, catalog):
    sandbox.run("filesystem.read_text_file('a.md', head=3)", tools, catalog)
    assert tools.calls == [("filesystem.read_text_file", {"path": "a.md", "head": 3})]


def test_text_results_stay_text(sandbox, tools, catalog):
    result = sandbox.run("type(fetch.http_fetch(url='https://x.test')).__name__", tools, catalog)
    assert result.result == '"str"'


def test_generic_tools_call(sandbox, tools, catalog):
    result = sandbox.run(
        "tools.call('filesystem.read_text_file', {'path': 'b'})['path']", tools, catalog
    )
    assert result.result == '"b"'


def test_denial_raises_tool_error_the_agent_can_catch(sandbox, tools, catalog):
    code = "try:\n    git.git_status()\nexcept ToolError as exc:\n    result = str(exc)"
    result = sandbox.run(code, tools, catalog)
    assert result.ok
    assert result.result == '"DENIED: git is not allowed in this test"'


def test_uncaught_denial_is_reported_with_the_reason(sandbox, tools, catalog):
    result = sandbox.run("x = 1\ngit.git_status()", tools, catalog)
    assert result.error.kind == "guest_exception"
    assert result.error.type == "ToolError"
    assert result.error.message == "DENIED: git is not allowed in this test"
    assert "line 2" in result.error.traceback
    text = result.to_agent_text()
    assert "ToolError: DENIED: git is not allowed in this test" in text


def test_help_lists_tools_without_calling_any(sandbox, tools, catalog):
    result = sandbox.run("help()\nhelp('git')\nhelp('filesystem.read_text_file')", tools, catalog)
    assert tools.calls == []
    out = result.stdout
    assert "filesystem.read_text_file(path, head=...)  Read a text file." in out
    assert "git.git_status()" in out
    assert "path (string, required): file to read" in out
    assert "head (integer, optional)" in out


def test_unknown_tool_is_an_attribute_error_and_never_reaches_the_host(sandbox, tools, catalog):
    code = (
        "try:\n    filesystem.delete_everything()\nexcept AttributeError as exc:\n"
        "    a = str(exc)\n"
        "try:\n    tools.call('shell.run', {})\nexcept ToolError as exc:\n    b = str(exc)\n[a, b]"
    )
    result = sandbox.run(code, tools, catalog)
    first, second = json.loads(result.result)
    assert "no tool 'delete_everything'" in first and "read_text_file" in first
    assert "unknown tool 'shell.run'" in second
    assert tools.calls == []


def test_each_run_is_a_fresh_instance(sandbox, tools, catalog):
    assert sandbox.run("leak = 'secret'\nimport json\njson.leaked = 1", tools, catalog).ok
    result = sandbox.run(
        "[('leak' in globals()), hasattr(__import__('json'), 'leaked')]", tools, catalog
    )
    assert result.result == "[false, false]"


def test_syntax_error_names_the_line(sandbox, tools, catalog):
    result = sandbox.run("x = 1\ndef broken(:\n", tools, catalog)
    assert result.error.type == "SyntaxError"
    assert "line 2" in result.error.traceback


def test_traceback_shows_only_agent_frames(sandbox, tools, catalog):
    result = sandbox.run("def f(n):\n    return 1 / n\nf(0)", tools, catalog)
    assert result.error.type == "ZeroDivisionError"
    assert result.error.traceback.splitlines() == [
        "  line 3, in <module>: f(0)",
        "  line 2, in f: return 1 / n",
    ]
    assert "ic_exec" not in result.error.traceback


def test_host_exception_in_call_tool_is_not_leaked(sandbox, catalog, caplog):
    def exploding(name: str, args_json: str) -> tuple[bool, str]:
        raise RuntimeError("internal detail /home/operator/secret.db")

    result = sandbox.run("filesystem.read_text_file(path='x')", exploding, catalog)
    assert result.error.type == "ToolError"
    assert "secret.db" not in result.to_agent_text()
    assert "failed inside the host" in result.error.message
    assert "secret.db" in caplog.text  # the operator does see it


def test_call_tool_returning_the_wrong_shape_fails_closed(sandbox, catalog):
    result = sandbox.run("filesystem.read_text_file(path='x')", lambda n, a: "yes", catalog)
    assert result.error.type == "ToolError"


def test_bad_catalog_entry_is_left_out_with_an_operator_warning_naming_it(sandbox, tools, caplog):
    # The servers wrote the catalogue: one bad entry must not fail every run (see
    # test_catalog_entries_s16.py); the operator's log names the entry and the field.
    catalog = [{"server": "a", "name": "b"}, {"server": "a", "name": 3}]
    with caplog.at_level("WARNING", logger="appliance.sandbox.bridge"):
        assert sandbox.run("1", tools, catalog).result == "1"
    assert "entry 1 left out of Code Mode: name '3' does not match" in caplog.text


def test_limits_reject_bad_values_naming_the_field():
    with pytest.raises(ValueError, match=r"Limits\.wall_seconds: invalid value -1"):
        Limits(wall_seconds=-1)
    with pytest.raises(ValueError, match=r"Limits\.memory_bytes"):
        Limits(memory_bytes=1024)


def test_missing_guest_is_a_clear_operator_error(tmp_path):
    with pytest.raises(SandboxError, match=r"python -m wasm_guest\.build"):
        Sandbox(tmp_path / "nope.wasm", cache_dir=tmp_path)


def test_agent_text_rendering():
    result = RunResult(stdout="a\n", result='"x"', output_truncated=True)
    assert (
        result.to_agent_text()
        == 'stdout:\na\nresult: "x"\n(output was cut at the sandbox\'s output cap)'
    )
    assert RunResult().to_agent_text() == "(no output)"
    assert json.loads(RunResult(result="1").to_json())["result"] == "1"


def test_runs_from_several_threads_do_not_mix_their_tools(sandbox, catalog):
    import threading

    seen: dict[int, list[str]] = {}

    def run(index: int) -> None:
        def call_tool(name: str, args_json: str) -> tuple[bool, str]:
            return True, json.dumps({"who": index})

        code = "[filesystem.read_text_file(path=str(i))['who'] for i in range(20)]"
        seen[index] = json.loads(sandbox.run(code, call_tool, catalog).result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {i: [i] * 20 for i in range(4)}


def test_random_is_not_the_same_in_every_execution(sandbox, tools, catalog):
    code = "import random, os\n[random.random(), os.urandom(8).hex()]"
    first = json.loads(sandbox.run(code, tools, catalog).result)
    second = json.loads(sandbox.run(code, tools, catalog).result)
    assert first[0] != second[0] and first[1] != second[1]


def test_stderr_is_captured_and_sys_exit_is_an_error(sandbox, tools, catalog):
    result = sandbox.run(
        "import sys\nprint('careful', file=sys.stderr)\nsys.exit(2)", tools, catalog
    )
    assert result.stderr == "careful\n"
    assert result.error.type == "SystemExit"


def test_code_must_be_text(sandbox, tools, catalog):
    with pytest.raises(TypeError, match="code must be str"):
        sandbox.run(b"1 + 1", tools, catalog)


def _slow_tool(seconds: float):
    import time

    def call_tool(name: str, args_json: str) -> tuple[bool, str]:
        time.sleep(seconds)  # an escalation waiting for a human, say
        return True, "approved"

    return call_tool


def test_time_inside_a_tool_call_is_not_charged_to_the_deadline(sandbox, catalog):
    limits = Limits(wall_seconds=0.3, fuel=10**12)
    result = sandbox.run("filesystem.read_text_file(path='x')", _slow_tool(0.8), catalog, limits)
    assert result.ok, result
    assert result.result == '"approved"'
    assert result.duration_s >= 0.8


def test_the_deadline_still_stops_guest_code_after_a_slow_tool_call(sandbox, catalog):
    limits = Limits(wall_seconds=0.3, fuel=10**13)
    code = "filesystem.read_text_file(path='x')\nwhile True:\n    pass"
    result = sandbox.run(code, _slow_tool(0.5), catalog, limits)
    assert result.error.kind == "deadline"
    assert 0.7 < result.duration_s < 5
