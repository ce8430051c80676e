"""The guest build's bookkeeping: the lock file, staleness, and what ``ensure_built`` trusts."""

from __future__ import annotations

import hashlib
import json
import shutil

from wasm_guest import build


def test_lock_file_records_the_output_and_the_sources(guest_wasm):
    lock = json.loads((guest_wasm.parent / build.LOCK_NAME).read_text())
    assert lock["componentize_py"] == build.COMPONENTIZE_PY_VERSION == "0.25.1"
    assert lock["wasm_sha256"] == hashlib.sha256(guest_wasm.read_bytes()).hexdigest()
    assert lock["wasm_bytes"] == guest_wasm.stat().st_size
    assert lock["source_sha256"] == build.source_digest()
    assert build.is_current(guest_wasm.parent)


def test_source_digest_covers_every_guest_file(tmp_path):
    wit, guest = tmp_path / "wit", tmp_path / "guest"
    shutil.copytree(build.WIT_DIR, wit)
    shutil.copytree(build.GUEST_DIR, guest, ignore=shutil.ignore_patterns("__pycache__"))
    original = build.source_digest(wit, guest)
    assert original == build.source_digest()
    (guest / "ic_tools.py").write_text((guest / "ic_tools.py").read_text() + "\n# changed\n")
    changed = build.source_digest(wit, guest)
    (guest / "extra.py").write_text("x = 1\n")
    assert len({original, changed, build.source_digest(wit, guest)}) == 3


def test_a_tampered_output_or_lock_is_not_current(guest_wasm, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(guest_wasm.parent, out, ignore=shutil.ignore_patterns("test-cache", ".*"))
    assert build.is_current(out)
    with open(out / build.WASM_NAME, "ab") as handle:
        handle.write(b"\0")
    assert not build.is_current(out)

    shutil.copy(guest_wasm, out / build.WASM_NAME)
    lock = json.loads((out / build.LOCK_NAME).read_text())
    (out / build.LOCK_NAME).write_text(json.dumps({**lock, "source_sha256": "0" * 64}))
    assert not build.is_current(out)
    (out / build.LOCK_NAME).write_text("not json")
    assert not build.is_current(out)
    (out / build.LOCK_NAME).unlink()
    assert not build.is_current(out)


def test_ensure_built_returns_the_current_build_without_rebuilding(guest_wasm, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although the output is current")

    monkeypatch.setattr(build, "build", no_build)
    assert build.ensure_built() == guest_wasm
