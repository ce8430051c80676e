"""What the guest hands the host is sized before the host copies it, and a run's wall-clock
limit counts its tool calls: the cases are data in tests/vectors/code_mode/*.json, run in the
real wasmtime.

A string refused by size must never reach Python: ``python_peak_mb`` bounds the host's Python
heap (tracemalloc) during the run, where the 110 MB cases used to allocate hundreds of MB. The
process as a whole is measured in a subprocess (peak RSS, which also counts the guest's memory
and wasmtime's own copy of the string).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from appliance.sandbox import Limits
from tests.sandbox.conftest import TEST_CACHE

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "code_mode"
MiB = 1024 * 1024


def _cases() -> list:
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}:{case['id']}"))
    return params


class SlowTools:
    """A ``call_tool`` that takes ``sleep_s`` per call and counts what reached it."""

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s, self.calls, self.refused = sleep_s, 0, 0

    def __call__(self, name: str, args_json: str) -> tuple[bool, str]:
        self.calls += 1
        time.sleep(self.sleep_s)
        return True, '{"text": "hello"}'

    def on_refused(self, name: str, arguments: dict, reason: str) -> None:
        self.refused += 1


@pytest.mark.parametrize("case", _cases())
def test_vector(case, sandbox, catalog):
    limits = Limits(**case.get("limits", {}))
    tools = SlowTools(case.get("tool_sleep_s", 0.0))
    expect = case["expect"]
    tracemalloc.start()
    try:
        result = sandbox.run(case["code"], tools, catalog, limits, tools.on_refused)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _check(expect, result, tools)
    if "python_peak_mb" in expect:
        assert peak <= expect["python_peak_mb"] * MiB, f"host Python heap peaked at {peak} bytes"
    assert sandbox.run("1 + 1", tools, catalog).result == "2"  # the host carries on


def _check(expect: dict, result, tools: SlowTools) -> None:
    error = result.error
    if "error_kind" in expect:
        kind = None if error is None else error.kind
        assert kind == expect["error_kind"], result
    if "error_type" in expect:
        assert error is not None and error.type == expect["error_type"], result
    if "message_contains" in expect:
        assert error is not None and expect["message_contains"] in error.message, result
    if "result" in expect:
        assert error is None and result.result == expect["result"], result
    for field in ("stdout", "stderr", "result"):
        if f"{field}_max_chars" in expect:
            assert len(getattr(result, field) or "") <= expect[f"{field}_max_chars"]
    if "message_max_chars" in expect:
        assert len(error.message) <= expect["message_max_chars"]
    if "output_truncated" in expect:
        assert result.output_truncated is expect["output_truncated"]
    if "tool_calls_to_host" in expect:
        assert tools.calls == expect["tool_calls_to_host"]
    if "max_tool_calls_to_host" in expect:
        assert 1 <= tools.calls <= expect["max_tool_calls_to_host"]
    if "refused_calls" in expect:
        assert tools.refused == expect["refused_calls"]
    if "max_duration_s" in expect:
        assert result.duration_s <= expect["max_duration_s"]


_RSS_PROBE = """
import json, sys
from pathlib import Path
from appliance.sandbox import Sandbox

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

sandbox = Sandbox(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
sandbox.run("1", lambda n, a: (True, "{}"), [])
before = kib("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as handle:  # resets VmHWM to the current RSS
        handle.write("5")
except OSError:
    pass
catalog = [{"server": "fs", "name": "read"}]
result = sandbox.run(sys.stdin.read(), lambda n, a: (True, "{}"), catalog)
print(json.dumps({"before": before, "peak": kib("VmHWM"), "after": kib("VmRSS"),
                  "error": result.error and [result.error.kind, result.error.message]}))
"""
_SIZE = 110_000_000
_RAW = (
    "import json\nt = json.__dict__['__builtins__']['__import__']"
    "('wit_world.imports.tools', fromlist=['call'])\n"
)


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        (f"import json\njson.dumps = lambda *a, **k: 'x' * {_SIZE}\n1", "Limits.max_answer_bytes"),
        (_RAW + f"t.call('fs.read', 'x' * {_SIZE})", "arguments too large"),
        (_RAW + f"t.call('x' * {_SIZE}, '{{}}')", "tool name too long"),
    ],
    ids=["answer", "arguments", "name"],
)
def test_host_rss_stays_bounded(code, refusal, guest_wasm):
    """Peak RSS growth: the guest's memory (at most Limits.memory_bytes) plus wasmtime's two
    copies of the string made before any host code runs, with 32 MiB to spare. Before the fix
    the host's own copies added 100-250 MiB more (measured 534 and 638 MiB of growth)."""
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(guest_wasm), str(TEST_CACHE)],
        input=code,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert probe.returncode == 0, probe.stderr
    figures = json.loads(probe.stdout.strip().splitlines()[-1])
    assert refusal in figures["error"][1], figures
    growth_mib = (figures["peak"] - figures["before"]) / 1024
    bound_mib = Limits().memory_bytes / MiB + 2 * _SIZE / MiB + 32
    assert growth_mib <= bound_mib, f"peak RSS grew {growth_mib:.0f} MiB (bound {bound_mib:.0f})"
    assert (figures["after"] - figures["before"]) / 1024 < 64, figures  # nothing kept


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf])
def test_run_wall_seconds_must_be_positive_and_finite(value):
    with pytest.raises(ValueError, match="run_wall_seconds"):
        Limits(run_wall_seconds=value)
