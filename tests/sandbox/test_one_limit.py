"""One size limit per entry point: Code Mode's executor refuses tool arguments over the limit of
the sandbox it runs, the same limit the sandbox's bridge enforces (it was 4 MiB behind a 1 MiB
bridge, so it could never fire)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from appliance.sandbox.code_mode import CodeExecutor
from appliance.sandbox.limits import Limits


def _executor(max_args_bytes: int) -> CodeExecutor:
    sandbox = SimpleNamespace(limits=Limits(max_args_bytes=max_args_bytes))
    return CodeExecutor(chokepoint=None, sandbox=sandbox, catalog=[])  # type: ignore[arg-type]


def test_arguments_over_the_sandbox_limit_are_refused_before_the_chokepoint() -> None:
    # chokepoint=None: reaching it would raise, so a refusal proves the check came first
    ok, text = _executor(64).call_tool("filesystem.read_file", json.dumps({"path": "x" * 100}))
    assert not ok and text.startswith("ERROR: tool arguments")


def test_the_limit_is_the_sandbox_limit_not_a_constant_of_its_own() -> None:
    executor = _executor(2 * 1024 * 1024)
    assert executor._max_args_bytes == 2 * 1024 * 1024
    assert _executor(Limits().max_args_bytes)._max_args_bytes == Limits().max_args_bytes
