"""The guest's digest is read from the build's lock only while the lock describes the file."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from appliance.sandbox import engine

RECORDED = "a" * 64  # not the file's real digest: proves where an answer came from


@pytest.fixture
def guest(tmp_path):
    path = tmp_path / "guest.wasm"
    path.write_bytes(b"\0asm a guest")
    return path


def _lock(guest, *, size=None, digest=RECORDED, mtime_offset_s=10):
    lock = guest.with_name(engine.GUEST_LOCK_NAME)
    size = guest.stat().st_size if size is None else size
    lock.write_text(json.dumps({"wasm_bytes": size, "wasm_sha256": digest}))
    when = guest.stat().st_ctime_ns + mtime_offset_s * 10**9
    os.utime(lock, ns=(when, when))


def _real(guest):
    return hashlib.sha256(guest.read_bytes()).hexdigest()


def test_a_lock_written_after_the_guest_with_its_size_is_used(guest):
    _lock(guest)
    assert engine.guest_sha256(guest) == RECORDED


def test_without_a_lock_the_guest_is_hashed(guest):
    assert engine.guest_sha256(guest) == _real(guest)


@pytest.mark.parametrize(
    "lock",
    [
        {"size": 1},  # another guest's lock
        {"mtime_offset_s": -10},  # the guest changed after the lock was written
        {"digest": "short"},
        {"digest": None},
    ],
)
def test_a_lock_that_does_not_describe_the_guest_is_ignored(guest, lock):
    _lock(guest, **lock)
    assert engine.guest_sha256(guest) == _real(guest)


def test_an_unreadable_lock_is_ignored(guest):
    guest.with_name(engine.GUEST_LOCK_NAME).write_text("not json")
    assert engine.guest_sha256(guest) == _real(guest)


def test_the_key_names_the_installed_wasmtime():
    from importlib.metadata import version

    assert engine._wasmtime_version() == version("wasmtime")
