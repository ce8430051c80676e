"""The sandbox guest: present, a WebAssembly component, current, and its compile cache."""

from __future__ import annotations

import hashlib
import os
import sys

from appliance.cli.doctor.base import Check, Facts, fail, ok, warn

# "\0asm", then the component model's layer and version (a core module has 01 00 00 00).
_COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"


def check_guest(facts: Facts) -> list[Check]:
    from appliance.sandbox.sandbox import default_guest_path

    wasm = default_guest_path()
    overridden = "IRONCURTAIN_GUEST_WASM" in os.environ
    build_fix = "python -m wasm_guest.build" + (" (or fix the variable)" if overridden else "")
    if not wasm.is_file():
        where = "IRONCURTAIN_GUEST_WASM names" if overridden else "expected at"
        return [fail("guest", f"sandbox guest missing: {where} {wasm}", build_fix)]
    if not overridden and not getattr(sys, "frozen", False):
        from appliance.sandbox.guest import guest_sources_current

        if not guest_sources_current(wasm.parent):
            return [fail("guest", f"{wasm} is older than its sources", build_fix)]
    data = wasm.read_bytes()
    if data[:8] != _COMPONENT_HEADER:
        detail = f"{wasm} is not a WebAssembly component (header {data[:8].hex()})"
        return [fail("guest", detail, build_fix)]
    return [ok("guest", f"{wasm} ({len(data) / 2**20:.1f} MiB)"), _guest_cache(facts, data)]


def _guest_cache(facts: Facts, wasm: bytes) -> Check:
    from appliance.sandbox.engine import cache_key

    key = cache_key(hashlib.sha256(wasm).hexdigest())
    entry = facts.paths.cache / "sandbox" / f"guest-{key}.cwasm"
    fix = "run `echo 'print(1)' | ironcurtain exec -` once to compile it (~10 s)"
    try:
        expected = entry.with_suffix(".sha256").read_text(encoding="ascii").strip()
        actual = hashlib.sha256(entry.read_bytes()).hexdigest()
    except FileNotFoundError:
        return warn("guest-cache", f"no compiled guest at {entry}: the first run compiles", fix)
    except (OSError, UnicodeDecodeError) as exc:
        return warn("guest-cache", f"cannot read {entry}: {exc}", fix)
    if expected != actual:
        return warn("guest-cache", f"{entry} does not match its digest: it will be rebuilt", fix)
    return ok("guest-cache", f"compiled guest cached at {entry}", required=False)
