"""What the guest's imports are bound to: WASI with nothing granted, minus sleeping, plus tools.

``add_wasip2`` with an empty ``WasiConfig`` gives no directories, environment, arguments or stdin,
and refuses every socket address. One gap is left: a WASI sleep (``time.sleep``, ``select`` with
a timeout) blocks inside the host, where neither fuel nor the epoch deadline can stop it. So the
monotonic clock is re-bound here with its two subscription functions refused: a guest that tries
to wait traps at once instead of holding the host thread.

``tools.call`` is bound through ``crossing.add_text_func``: its name and arguments reach the
bridge sized and unread, so an oversized string is refused before the host copies it. Each call
is also where the run's overall wall-clock limit is enforced: past it no call starts, a call that
ends past it ends the run, and a ``call_tool`` that cuts a call off at it (``run_seconds_left``)
ends the run the same way.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import wasmtime
from wasmtime.component import Component, Linker, Variant

from appliance.sandbox.crossing import GuestText, add_text_func
from appliance.sandbox.limits import RunStopped

__all__ = [
    "REFUSAL_MARK",
    "RUN_LIMIT_MARK",
    "STOP_MARK",
    "TOOLS_IMPORT",
    "current",
    "make_linker",
    "run_seconds_left",
    "valid_text",
]

TOOLS_IMPORT = "ironcurtain:sandbox/tools@0.1.0"
MONOTONIC_CLOCK = "wasi:clocks/monotonic-clock@"
REFUSAL_MARK = "ironcurtain sandbox refused: "
STOP_MARK = "ironcurtain sandbox stopped: "
RUN_LIMIT_MARK = "ironcurtain sandbox run limit: "
_CLOCK_RESOLUTION_NS = 1_000

current = threading.local()  # ``.bridge``, ``.deadline`` (and ``.escaped``) of the execution


def _refuse(what: str) -> Callable[..., object]:
    def refused(_store: object, *_args: object) -> object:
        # A WasmtimeError (not another exception) becomes the trap's cause, thread-safely.
        raise wasmtime.WasmtimeError(f"{REFUSAL_MARK}{what}")

    return refused


def _tools_call(store: object, name: GuestText, args_json: GuestText) -> Variant:
    bridge = getattr(current, "bridge", None)
    deadline = getattr(current, "deadline", None)
    if bridge is None or deadline is None:  # a call outside any execution: refuse, never guess
        return Variant("err", "ERROR: no execution is running")
    if deadline.run_expired():  # a trap: the code cannot catch it and keep calling
        raise wasmtime.WasmtimeError(f"{RUN_LIMIT_MARK}no further tool call was started")
    deadline.pause()
    try:
        ok, text = bridge.call_guest(name, args_json)
    except RunStopped as exc:
        # A trap, not an error value: the agent's code cannot catch it and carry on calling.
        mark = RUN_LIMIT_MARK if exc.run_limit else STOP_MARK
        raise wasmtime.WasmtimeError(f"{mark}{exc}") from None
    except BaseException as exc:
        # wasmtime-py carries only Exception out of a host function: anything else (SystemExit,
        # KeyboardInterrupt) is dropped by ctypes and the call goes on with no result, which
        # segfaulted the host (measured). Trap here; Sandbox.run raises it once out of wasm.
        current.escaped = exc
        raise wasmtime.WasmtimeError(f"{STOP_MARK}the host stopped") from None
    finally:
        deadline.resume(store)
    if deadline.run_expired():
        # The call ran (and is audited), but the run is over: its answer goes nowhere.
        raise wasmtime.WasmtimeError(
            f"{RUN_LIMIT_MARK}a tool call ended past it; that call ran, but its answer was not "
            "returned to the code"
        )
    return Variant("ok" if ok else "err", valid_text(text))


def run_seconds_left() -> float:
    """Seconds before the execution running on this thread passes its overall wall-clock limit
    (``Limits.run_wall_seconds``); ``math.inf`` on a thread that runs none. A ``call_tool`` that
    can stop waiting (Code Mode's, on the session's event loop) bounds each call with it, and
    ends the run with ``RunStopped(..., run_limit=True)`` when it cuts one off."""
    deadline = getattr(current, "deadline", None)
    return math.inf if deadline is None else deadline.run_seconds_left()


def valid_text(text: str) -> str:
    """``text`` as a WIT string can carry it: valid Unicode. A lone surrogate (a server that cut
    a text between the halves of an emoji) becomes U+FFFD; lowering it as it is raises
    UnicodeEncodeError inside wasmtime, out of the run and into the session."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def make_linker(engine: wasmtime.Engine, component: Component) -> Linker:
    linker = Linker(engine)
    linker.allow_shadowing = True
    linker.add_wasip2()
    clocks = [n for n in component.type.imports(engine) if n.startswith(MONOTONIC_CLOCK)]
    with linker.root() as root:
        for name in clocks:
            # Re-binding an instance replaces it whole, so all four functions are defined.
            with root.add_instance(name) as clock:
                clock.add_func("now", lambda _store: time.monotonic_ns())
                clock.add_func("resolution", lambda _store: _CLOCK_RESOLUTION_NS)
                clock.add_func("subscribe-duration", _refuse("waiting (time.sleep, select)"))
                clock.add_func("subscribe-instant", _refuse("waiting (time.sleep, select)"))
        with root.add_instance(TOOLS_IMPORT) as tools:
            add_text_func(tools, "call", _tools_call)
    return linker
