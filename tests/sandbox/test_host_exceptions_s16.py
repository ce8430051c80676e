"""Whatever escapes the host's side of a tool call unwinds the host safely, after the guest is
stopped: never through wasmtime's native frames.

Found by a red team: wasmtime-py carries only ``Exception`` out of a host function; a
``BaseException`` (SystemExit, KeyboardInterrupt, a test's ``pytest.fail``) raised under
``tools.call`` was dropped by ctypes, the call went on without a result, and the host process
died of a segmentation fault. Each case runs in a child process, so a regression is a failed
test rather than a crashed test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.conftest import TEST_CACHE

CHILD = """
import json, sys
from pathlib import Path
from appliance.sandbox import Sandbox

class Odd(BaseException):
    pass

RAISE = {"exit": SystemExit(3), "keyboard": KeyboardInterrupt(), "base": Odd("odd")}
sandbox = Sandbox(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
catalog = [{"server": "fs", "name": "read", "required": [], "properties": {}}]

def call_tool(name, args_json):
    raise RAISE[sys.argv[3]]

try:
    sandbox.run("fs.read()", call_tool, catalog)
    print("returned")
except BaseException as exc:
    print("raised", type(exc).__name__)
print("next run:", sandbox.run("6 * 7", lambda n, a: (True, "x"), catalog).result)
"""


@pytest.mark.parametrize(
    ("case", "name"), [("exit", "SystemExit"), ("keyboard", "KeyboardInterrupt"), ("base", "Odd")]
)
def test_a_base_exception_under_a_tool_call_is_raised_after_the_run(case, name, guest_wasm):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(guest_wasm), str(TEST_CACHE), case],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [f"raised {name}", "next run: 42"], done.stdout
