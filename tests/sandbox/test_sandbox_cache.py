"""The compiled-guest cache: atomic, read-only, verified before use, rebuilt when bad.

These use a tiny real component (compiling it takes milliseconds) instead of the guest, so
every corruption case can recompile for real.
"""

from __future__ import annotations

import os
import stat

import pytest

from appliance.sandbox import engine


@pytest.fixture
def tiny_wasm(tmp_path):
    import wasmtime  # noqa: TID251 - a test helper for the sandbox package, which owns wasmtime

    path = tmp_path / "tiny.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm("(component)")))
    return path


def _entries(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir())


def _rewrite(path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_first_load_writes_a_read_only_entry_and_its_digest(tiny_wasm, tmp_path):
    cache = tmp_path / "cache"
    engine.load_component(tiny_wasm, cache)
    names = _entries(cache)
    assert len(names) == 2 and names[0].endswith(".cwasm") and names[1].endswith(".sha256")
    for name in names:
        mode = stat.S_IMODE((cache / name).stat().st_mode)
        assert mode & 0o222 == 0, f"{name} is writable: {oct(mode)}"


def test_second_load_uses_the_entry(tiny_wasm, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    engine.load_component(tiny_wasm, cache)

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled again although a valid cache entry exists")

    monkeypatch.setattr(engine, "Component", _DeserializeOnly(no_compiling))
    engine.load_component(tiny_wasm, cache)


class _DeserializeOnly:
    """Stands in for Component: deserializing is allowed, compiling is not."""

    def __init__(self, on_compile):
        from wasmtime.component import Component  # noqa: TID251 - sandbox test helper

        self._real = Component
        self._on_compile = on_compile

    def __call__(self, *args, **kwargs):
        return self._on_compile()

    def deserialize_file(self, *args):
        return self._real.deserialize_file(*args)


@pytest.mark.parametrize(
    "damage",
    ["flip-a-byte", "truncate", "digest-mismatch", "digest-missing", "garbage-with-valid-digest"],
)
def test_a_bad_entry_is_never_used_and_is_rebuilt(damage, tiny_wasm, tmp_path, caplog):
    import hashlib

    cache = tmp_path / "cache"
    engine.load_component(tiny_wasm, cache)
    entry = next(cache.glob("*.cwasm"))
    digest = entry.with_suffix(".sha256")
    original = entry.read_bytes()
    if damage == "flip-a-byte":
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        _rewrite(entry, bytes(data))
    elif damage == "truncate":
        _rewrite(entry, original[: len(original) // 3])
    elif damage == "digest-mismatch":
        _rewrite(digest, b"0" * 64)
    elif damage == "digest-missing":
        os.chmod(digest, 0o644)
        digest.unlink()
    else:  # the digest matches, but wasmtime must still refuse bytes that are not its own
        garbage = b"\x7fELF not really a compiled module" * 10
        _rewrite(entry, garbage)
        _rewrite(digest, hashlib.sha256(garbage).hexdigest().encode())

    component = engine.load_component(tiny_wasm, cache)
    assert component is not None
    assert entry.read_bytes() == original or damage == "garbage-with-valid-digest"
    assert engine._verified(entry)
    assert "recompil" in caplog.text


def test_the_key_changes_with_the_wasm_and_the_settings(monkeypatch):
    base = engine.cache_key("a" * 64)
    assert engine.cache_key("b" * 64) != base
    monkeypatch.setitem(engine.ENGINE_SETTINGS, "cranelift_opt_level", "none")
    assert engine.cache_key("a" * 64) != base


def test_an_unwritable_cache_costs_speed_not_correctness(tiny_wasm, tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    assert engine.load_component(tiny_wasm, blocker / "cache") is not None
    assert "cannot write sandbox cache entry" in caplog.text


def test_entries_of_other_guests_are_pruned(tiny_wasm, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "guest-old.cwasm").write_bytes(b"old")
    (cache / "guest-old.sha256").write_bytes(b"0" * 64)
    engine.load_component(tiny_wasm, cache)
    assert not (cache / "guest-old.cwasm").exists()
    assert not (cache / "guest-old.sha256").exists()
    assert len(_entries(cache)) == 2
