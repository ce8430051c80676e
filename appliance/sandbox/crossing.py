"""Strings the guest hands the host, sized before the host copies them.

wasmtime-py turns every string out of the guest into Python in full (a ``bytearray``, then a
``str``) before any host code can look at it: a guest answering 110 MB took the host from 165 to
590 MB before a size check ran. Here the host reads only the length wasmtime reports, refuses
over the caller's cap, and copies out only what is allowed. The guest's two doors, and only those:

- ``call_for_text``: the guest's ``run`` export, whose answer is refused over its cap unread;
- ``add_text_func``: a host import whose string arguments arrive as ``GuestText``, unread.

What this cannot bound: wasmtime's own lift, which copies the string out of guest memory on its
Rust side (into its ``Val``, then into the C API's byte vector) before any callback runs. Those
copies are no larger than the guest's memory (``Limits.memory_bytes``) and are freed when the
call returns; ``docs/sandbox.md`` has the figures.

This reaches below wasmtime-py's public API (``wasmtime._ffi`` and its component ``_enter`` and
``_types`` helpers) because that API offers no way to see a string's length first. The version is
pinned in ``uv.lock``; ``tests/sandbox/test_guest_text.py`` runs both doors in the real library.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from ctypes import byref, create_string_buffer

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime.component import Func, LinkerInstance
from wasmtime.component._enter import catch_exceptions, enter_wasm
from wasmtime.component._types import FuncType

from appliance.errors import ApplianceError

__all__ = ["GuestText", "TextTooLarge", "add_text_func", "call_for_text"]

_STRING = ffi.WASMTIME_COMPONENT_STRING.value


class TextTooLarge(ApplianceError, ValueError):
    """A guest string over its cap; nothing of it was copied. The message completes
    "<what> too large (...)": it gives the size and the limit in bytes."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes; the limit is {limit}")
        self.size, self.limit = size, limit


class GuestText:
    """A string the guest passed, still in wasmtime's buffer: ``size`` (UTF-8 bytes) is known,
    the text is copied only by ``read``. Valid only during the host call it was passed to."""

    __slots__ = ("_vec", "size")

    def __init__(self, vec: ffi.wasm_byte_vec_t) -> None:
        self._vec: ffi.wasm_byte_vec_t | None = vec
        self.size = int(vec.size)

    def read(self, limit: int) -> str:
        """The text, or ``TextTooLarge`` when it is over ``limit`` bytes (then nothing is read)."""
        if self.size > limit:
            raise TextTooLarge(self.size, limit)
        if self._vec is None:
            raise RuntimeError("a guest string was read after its host call returned")
        if self.size == 0:
            return ""
        return ffi.to_str(self._vec)  # wasmtime lifted it as a string: valid UTF-8

    def _free(self) -> None:
        if self._vec is not None:
            ffi.wasm_byte_vec_delete(byref(self._vec))  # empties it: Rust's drop frees nothing
            self._vec = None


def call_for_text(func: Func, store: wasmtime.Store, argument: str, limit: int) -> str:
    """Call the guest export ``func: (string) -> string``; an answer over ``limit`` bytes raises
    ``TextTooLarge`` before a byte of it is copied into Python (and is freed at once)."""
    param, result = ffi.wasmtime_component_val_t(), ffi.wasmtime_component_val_t()
    param.kind = ffi.WASMTIME_COMPONENT_STRING
    param.of.string = ffi.str_to_capi(argument)
    try:
        enter_wasm(
            lambda: ffi.wasmtime_component_func_call(
                byref(func._func), store._context(), byref(param), 1, byref(result), 1
            )
        )
        if result.kind != _STRING:
            raise wasmtime.WasmtimeError(f"the guest's answer is not a string (kind {result.kind})")
        text = GuestText(result.of.string)
        try:
            return text.read(limit)
        finally:
            text._free()
    finally:
        ffi.wasmtime_component_val_delete(byref(param))
        ffi.wasmtime_component_val_delete(byref(result))


# Host functions by the key wasmtime hands back to the trampoline; removed by its finalizer.
_HANDLERS: dict[int, Callable[..., object]] = {}
_KEYS = itertools.count(1)


def add_text_func(instance: LinkerInstance, name: str, handler: Callable[..., object]) -> None:
    """Define ``name`` in ``instance`` as ``handler(store, *texts)``: every parameter must be a
    string and arrives as a ``GuestText`` (sized, unread); the result is lowered as wasmtime-py
    lowers any host function's result."""
    key = next(_KEYS)
    _HANDLERS[key] = handler
    encoded = name.encode("utf-8")
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), create_string_buffer(encoded), len(encoded), _trampoline, key, _finalize
    )
    if error:
        _HANDLERS.pop(key, None)
        raise wasmtime.WasmtimeError._from_ptr(error)


@ffi.wasmtime_component_func_callback_t
def _trampoline(key, context, func_type, args, nargs, results, nresults):  # type: ignore[no-untyped-def]
    def run(store: wasmtime.StoreContext) -> None:
        texts: list[GuestText] = []
        try:
            for index in range(nargs):
                if args[index].kind != _STRING:
                    raise wasmtime.WasmtimeError("a host text function takes only strings")
                texts.append(GuestText(args[index].of.string))
            result = _HANDLERS[key or 0](store, *texts)
        finally:
            for text in texts:
                text._free()
        with FuncType._from_ptr(func_type, owner=store) as signature:
            if signature.result is None or nresults != 1:
                raise wasmtime.WasmtimeError("a host text function must return one value")
            signature.result.convert_to_c(store, result, results)

    return catch_exceptions(context, run)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _finalize(key):  # type: ignore[no-untyped-def]
    _HANDLERS.pop(key or 0, None)
