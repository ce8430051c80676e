"""The process-wide wasmtime Engine and the on-disk cache of the compiled guest.

Compiling the guest takes ~10 s and loading a compiled copy milliseconds, so the compiled
component is cached in the user cache directory, keyed by the wasmtime version, the engine
settings and the ``.wasm`` SHA-256. wasmtime executes whatever machine code a cached file holds,
so a cache entry is never trusted blindly: a digest file beside it holds its SHA-256, both are
written atomically and read-only, the whole entry is hashed before every load, and anything that
fails to check out is deleted and recompiled. This guards against corruption and mismatch, not
against someone who can write the cache directory (they can rewrite the digest too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import wasmtime
from wasmtime.component import Component

__all__ = ["ENGINE_SETTINGS", "engine", "load_component"]

log = logging.getLogger(__name__)

ENGINE_SETTINGS: dict[str, object] = {
    "consume_fuel": True,  # a deterministic instruction budget
    "epoch_interruption": True,  # a cheap wall-clock deadline
    "cranelift_opt_level": "speed",
}
# Written beside the guest by wasm_guest.build (not imported from there: it is build tooling).
GUEST_LOCK_NAME = "guest.lock.json"
_engine: wasmtime.Engine | None = None
_engine_lock = threading.Lock()


def engine() -> wasmtime.Engine:
    """The one Engine of this process (components and epochs belong to an engine)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            config = wasmtime.Config()
            config.consume_fuel = ENGINE_SETTINGS["consume_fuel"]
            config.epoch_interruption = ENGINE_SETTINGS["epoch_interruption"]
            config.cranelift_opt_level = ENGINE_SETTINGS["cranelift_opt_level"]
            if not ENGINE_SETTINGS["consume_fuel"]:
                # Only the benchmark turns this off, to measure what fuel costs.
                log.warning("sandbox fuel metering is OFF: only the deadline stops runaway code")
            _engine = wasmtime.Engine(config)
        return _engine


def cache_key(wasm_sha256: str) -> str:
    material = json.dumps(
        {"wasmtime": _wasmtime_version(), "settings": ENGINE_SETTINGS, "wasm": wasm_sha256},
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _wasmtime_version() -> str:
    """wasmtime-py's version, from its dist-info folder when it sits beside the package.

    ``importlib.metadata`` costs ~30 ms of imports (email, zipfile) on every start; it remains
    the fallback. wasmtime also refuses to deserialize another version's output on its own.
    """
    prefix, suffix = "wasmtime-", ".dist-info"
    try:
        names = os.listdir(Path(wasmtime.__file__).parents[1])
    except OSError:
        names = []
    found = [
        n[len(prefix) : -len(suffix)] for n in names if n.startswith(prefix) and n.endswith(suffix)
    ]
    if len(found) == 1:
        return found[0]
    from importlib.metadata import version

    return version("wasmtime")


def guest_sha256(wasm_path: Path) -> str:
    """The guest's SHA-256: as recorded by the build's lock file beside it, else hashed.

    The lock (``guest.lock.json``, written by ``wasm_guest.build`` just after the guest) sits in
    the same directory and is exactly as trustworthy as the guest. It is believed only while it
    still describes this file: same size, and written after the guest's inode last changed (its
    ctime, which no one but root can set back). Any other case hashes the file (~15 ms).
    """
    lock_path = wasm_path.with_name(GUEST_LOCK_NAME)
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        wasm_stat, lock_stat = wasm_path.stat(), lock_path.stat()
        recorded = lock["wasm_sha256"]
        if (
            isinstance(recorded, str)
            and len(recorded) == 64
            and lock["wasm_bytes"] == wasm_stat.st_size
            and lock_stat.st_mtime_ns > wasm_stat.st_ctime_ns
        ):
            return recorded
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no usable lock: hash the file
    return file_sha256(wasm_path)


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in chunks (no 40 MB buffer to allocate and page in)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _verified(entry: Path) -> bool:
    """True when the entry's bytes match the digest written beside it; a bad entry is removed."""
    digest_file = entry.with_suffix(".sha256")
    try:
        expected = digest_file.read_text(encoding="ascii").strip()
        actual = file_sha256(entry)
    except (OSError, UnicodeDecodeError):
        expected, actual = "", "unreadable"
    if expected == actual:
        return True
    if os.path.lexists(entry) or os.path.lexists(digest_file):
        log.warning("sandbox cache entry %s is corrupt or incomplete: recompiling", entry)
    _remove(entry)
    return False


def _remove(entry: Path) -> None:
    for path in (entry, entry.with_suffix(".sha256")):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # the caller recompiles either way
            log.warning("cannot remove sandbox cache file %s: %s", path, exc)


def _write_read_only(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename) as a read-only file."""
    import tempfile  # only when compiling: not on the start-up path

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o444)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _store(entry: Path, payload: bytes) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    # Entries of other guests or wasmtime versions are dead weight (~40 MB each): drop them.
    for stale in entry.parent.glob("guest-*.cwasm"):
        _remove(stale)
    # The entry first, its digest last: a crash in between leaves an entry that fails the check.
    _write_read_only(entry, payload)
    _write_read_only(entry.with_suffix(".sha256"), hashlib.sha256(payload).hexdigest().encode())


def _entry(cache_dir: Path, wasm_sha256: str) -> Path:
    return cache_dir / f"guest-{cache_key(wasm_sha256)}.cwasm"


def load_component(wasm_path: Path, cache_dir: Path) -> Component:
    """The compiled guest: from the cache when a verified entry exists, else compiled and cached."""
    entry = _entry(cache_dir, guest_sha256(wasm_path))
    if _verified(entry):
        try:
            # From the file, not from bytes: wasmtime maps it instead of copying 40 MB twice.
            return Component.deserialize_file(engine(), str(entry))
        except wasmtime.WasmtimeError as exc:
            log.warning("sandbox cache entry %s rejected by wasmtime (%s): recompiling", entry, exc)
            _remove(entry)
    wasm = wasm_path.read_bytes()
    # Keyed by the bytes compiled, which may differ from those hashed above if the file changed.
    entry = _entry(cache_dir, hashlib.sha256(wasm).hexdigest())
    component = Component(engine(), wasm)
    try:
        _store(entry, bytes(component.serialize()))
    except OSError as exc:  # a read-only cache costs speed, never correctness
        log.warning("cannot write sandbox cache entry %s: %s", entry, exc)
    return component
