"""The Python runtime and the packages the appliance needs."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

from appliance.cli.doctor.base import Check, Facts, fail, ok


def check_runtime(facts: Facts) -> list[Check]:
    found = ".".join(map(str, sys.version_info[:3]))
    checks = [
        ok("python", f"Python {found}")
        if sys.version_info >= (3, 13)
        else fail("python", f"Python {found}; the appliance needs 3.13", "install Python 3.13")
    ]
    try:
        import appliance.sandbox.engine  # noqa: F401 - loads wasmtime's native library, the test

        checks.append(ok("wasmtime", f"wasmtime {version('wasmtime')}"))
    except (ImportError, OSError, PackageNotFoundError) as exc:
        detail = f"wasmtime does not load: {type(exc).__name__}: {exc}"[:240]
        checks.append(fail("wasmtime", detail, "reinstall ironcurtain (wasmtime 50)"))
    return checks
