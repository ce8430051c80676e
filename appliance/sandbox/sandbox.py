"""Run agent code in the WebAssembly guest: one fresh Store and instance per execution.

Each execution gets an empty WASI context (no directories, environment, arguments, stdin or
sockets; the guest captures its own stdout/stderr), a memory cap, a fuel budget, an epoch
deadline for guest code (paused during tool calls) and a wall-clock limit for the whole run (not
paused, see ``deadline.py``). Whatever stops the guest (fuel, a deadline, memory, a trap, an
exception in the agent's code, an answer over its size cap) becomes a ``RunResult`` error; the
Store is dropped afterwards, so a trapped instance is never reused.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import wasmtime

from appliance.sandbox import engine as _engine
from appliance.sandbox.bridge import CallTool, OnRefused, ToolBridge, clean_catalog
from appliance.sandbox.crossing import TextTooLarge, call_for_text
from appliance.sandbox.deadline import GuestDeadline, start_ticker, stopped_why
from appliance.sandbox.limits import Limits, RunError, RunResult, SandboxError
from appliance.sandbox.linking import (
    REFUSAL_MARK,
    RUN_LIMIT_MARK,
    STOP_MARK,
    current,
    make_linker,
)
from policy.api import JSONRefused
from policy.api import loads as safe_loads

__all__ = ["Sandbox", "default_guest_path"]


# wasmtime's trap messages, mapped to what the agent is told.
_TRAPS = (
    ("all fuel consumed", "out_of_fuel", "the code used up its instruction budget (fuel)"),
    ("interrupt", "deadline", "the code ran past its wall-clock deadline"),
    ("call stack exhausted", "stack_overflow", "the code exhausted the sandbox's stack"),
    # wasmtime's own cap on one crossing (its "hostcall fuel", 128 MiB, not settable from
    # Python), met before the host's caps for strings larger still.
    (
        "fuel allocated for hostcalls has been exhausted",
        "too_large",
        "the code passed the host more data in one call than wasmtime copies (128 MiB)",
    ),
)


def default_guest_path() -> Path:
    """``IRONCURTAIN_GUEST_WASM``, else the bundled guest, else the source tree's build output."""
    override = os.environ.get("IRONCURTAIN_GUEST_WASM")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "wasm_guest" / "guest.wasm"
    return Path(__file__).resolve().parents[2] / "wasm_guest" / "build_out" / "guest.wasm"


class Sandbox:
    """A loaded guest ready to run code; cheap to call ``run`` on, safe to share between threads."""

    def __init__(
        self,
        wasm_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
        limits: Limits = Limits(),  # noqa: B008 - Limits is frozen
    ) -> None:
        self.wasm_path = Path(wasm_path) if wasm_path is not None else default_guest_path()
        if not self.wasm_path.is_file():
            raise SandboxError(
                f"sandbox guest not found at {self.wasm_path}: build it with "
                "`python -m wasm_guest.build` (or set IRONCURTAIN_GUEST_WASM)"
            )
        if cache_dir is None:
            from appliance.config.paths import app_paths

            cache_dir = app_paths().cache / "sandbox"
        self.limits = limits
        try:
            self._component = _engine.load_component(self.wasm_path, Path(cache_dir))
        except wasmtime.WasmtimeError as exc:
            raise SandboxError(f"cannot load the sandbox guest {self.wasm_path}: {exc}") from exc
        self._linker = make_linker(_engine.engine(), self._component)
        self._instantiate_lock = threading.Lock()
        start_ticker(_engine.engine())

    def run(
        self,
        code: str,
        call_tool: CallTool,
        catalog: list[dict],
        limits: Limits | None = None,
        on_refused: OnRefused | None = None,
    ) -> RunResult:
        """Execute ``code`` with the tools of ``catalog``; every failure is in the result.
        ``on_refused`` is told of each call refused for naming a tool outside ``catalog``."""
        if not isinstance(code, str):
            raise TypeError(f"Sandbox.run: code must be str, got {type(code).__name__}")
        limits = limits or self.limits
        catalog = clean_catalog(catalog)
        envelope = json.dumps(
            {"code": code, "catalog": catalog, "max_output_chars": limits.max_output_chars}
        )
        bridge = ToolBridge(call_tool, catalog, limits, on_refused)
        deadline = GuestDeadline(limits.wall_seconds, limits.run_wall_seconds)
        store = self._new_store(limits)
        deadline.arm(store)
        started = time.perf_counter()
        current.bridge, current.deadline, current.escaped = bridge, deadline, None
        try:
            run = self._instantiate(store)
            answer = call_for_text(run, store, envelope, limits.max_answer_bytes)
            run.post_return(store)
            outcome = _parse_answer(answer, limits)
        except TextTooLarge as exc:
            outcome = {"error": _too_large(exc)}
        except wasmtime.WasmtimeError as exc:
            outcome = {"error": _trap_error(exc, limits, deadline)}
        finally:
            escaped, current.escaped = getattr(current, "escaped", None), None
            current.bridge = current.deadline = None
        if escaped is not None:  # out of wasm now, where it can unwind safely
            raise escaped
        fuel_used = limits.fuel - store.get_fuel() if _engine.ENGINE_SETTINGS["consume_fuel"] else 0
        duration = time.perf_counter() - started
        return RunResult(
            **outcome, tool_calls=bridge.calls, fuel_used=fuel_used, duration_s=duration
        )

    def _new_store(self, limits: Limits) -> wasmtime.Store:
        store = wasmtime.Store(_engine.engine())
        store.set_wasi(wasmtime.WasiConfig())  # nothing granted: no dirs, env, args, stdin
        store.set_limits(memory_size=limits.memory_bytes)
        if _engine.ENGINE_SETTINGS["consume_fuel"]:
            store.set_fuel(limits.fuel)
        return store

    def _instantiate(self, store: wasmtime.Store) -> wasmtime.component.Func:
        """A fresh instance's ``run``; failing here is the installation's fault, not the agent's."""
        try:
            with self._instantiate_lock:
                instance = self._linker.instantiate(store, self._component)
        except wasmtime.WasmtimeError as exc:
            raise SandboxError(
                f"cannot instantiate the sandbox guest {self.wasm_path}: {exc}"
            ) from exc
        run = instance.get_func(store, "run")
        if run is None:
            raise SandboxError(f"{self.wasm_path} does not export 'run': not an IronCurtain guest")
        return run


def _too_large(exc: TextTooLarge) -> RunError:
    message = (
        f"the code's answer to the host is {exc.size} bytes; the limit is {exc.limit} "
        "(Limits.max_answer_bytes): refused unread"
    )
    return RunError(kind="too_large", type="answer", message=message)


def _trap_error(exc: wasmtime.WasmtimeError, limits: Limits, deadline: GuestDeadline) -> RunError:
    """What the agent is told about a trap: the cause, never the guest's internal backtrace."""
    if isinstance(exc, wasmtime.ExitTrap):
        return RunError(kind="exit", type="exit", message=f"the code exited with status {exc.code}")
    text = str(exc)
    if STOP_MARK in text:
        why = text.split(STOP_MARK, 1)[1].strip().splitlines()[0]
        return RunError(kind="stopped", type="stopped", message=f"the run was stopped: {why}")
    if "interrupt" in text and (why := stopped_why()) is not None:
        return RunError(kind="stopped", type="stopped", message=f"the run was stopped: {why}")
    if RUN_LIMIT_MARK in text or ("interrupt" in text and deadline.run_expired()):
        why = (
            text.split(RUN_LIMIT_MARK, 1)[1].strip().splitlines()[0]
            if RUN_LIMIT_MARK in text
            else ""
        )
        return RunError(kind="run_deadline", type="run_deadline", message=_run_limit(limits, why))
    if REFUSAL_MARK in text:
        what = text.split(REFUSAL_MARK, 1)[1].strip().splitlines()[0]
        return RunError(kind="forbidden", type="forbidden", message=f"not allowed here: {what}")
    for needle, kind, message in _TRAPS:
        if needle in text:
            if kind == "deadline":
                message += f" ({limits.wall_seconds:g} s)"
            return RunError(kind=kind, type=kind, message=message)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    cause = lines[-1] if lines else "unknown trap"
    return RunError(kind="trap", type="trap", message=f"the sandbox stopped the code: {cause}")


def _run_limit(limits: Limits, why: str) -> str:
    message = (
        f"the run passed its overall wall-clock limit ({limits.run_wall_seconds:g} s, tool calls "
        "included; Limits.run_wall_seconds)"
    )
    return f"{message}: {why}" if why else f"{message} while the code was running"


def _parse_answer(answer: str, limits: Limits) -> dict[str, object]:
    """The guest's JSON answer, checked field by field: the guest is not trusted either."""
    try:
        # The guest's own json module is the agent's to replace: its answer is untrusted text.
        data = safe_loads(answer, max_bytes=limits.max_answer_bytes)
    except JSONRefused:
        data = None
    if not isinstance(data, dict):
        return {"error": RunError(kind="trap", type="protocol", message="malformed guest answer")}
    cap = limits.max_output_chars + 200  # the guest caps; this holds if it did not

    def text(key: str) -> str:
        value = data.get(key)
        return value[:cap] if isinstance(value, str) else ""

    result = data.get("result")
    error = data.get("error")
    run_error = None
    if isinstance(error, dict):
        kind = "envelope" if error.get("type") == "EnvelopeError" else "guest_exception"
        run_error = RunError(
            kind=kind,
            type=str(error.get("type", "Error"))[:200],
            message=str(error.get("message", ""))[:cap],
            traceback=str(error.get("traceback", ""))[:cap],
        )
    return {
        "stdout": text("stdout"),
        "stderr": text("stderr"),
        "result": result[:cap] if isinstance(result, str) else None,
        "error": run_error,
        "output_truncated": bool(data.get("output_truncated")),
    }
