"""Build the sandbox guest: ``python -m wasm_guest.build [--out DIR] [--force]``.

componentize-py (pinned) links CPython, the guest modules in ``guest/`` and bindings for
``wit/world.wit`` into one component and pre-initialises it: it imports ``ic_guest`` (which loads
the deliberate standard library, see ``guest/ic_stdlib.py``) and snapshots the memory. The result is
``guest.wasm`` plus ``guest.lock.json`` recording the SHA-256 of the sources and of the output.

``ensure_built()`` rebuilds only when the output is missing or was built from other sources, so a
fresh clone's ``pytest`` works; a file lock keeps two processes from building at once.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["COMPONENTIZE_PY_VERSION", "BuildError", "build", "ensure_built", "source_digest"]

COMPONENTIZE_PY_VERSION = "0.25.1"
PACKAGE_DIR = Path(__file__).resolve().parent
WIT_DIR = PACKAGE_DIR / "wit"
GUEST_DIR = PACKAGE_DIR / "guest"
DEFAULT_OUT = PACKAGE_DIR / "build_out"
WASM_NAME = "guest.wasm"
LOCK_NAME = "guest.lock.json"
APP_MODULE = "ic_guest"
WORLD = "guest"
# A fixed timestamp for the staged sources: nothing of the build machine's clock should matter.
_SOURCE_MTIME = 315532800  # 1980-01-01, the zip epoch

_RUN_COMPONENTIZE = "import sys; from componentize_py import script; sys.exit(script())"


class BuildError(RuntimeError):
    """The guest could not be built; the message says which step and why."""


def _sources(wit_dir: Path, guest_dir: Path) -> list[tuple[str, Path]]:
    files = [(f"wit/{p.name}", p) for p in sorted(wit_dir.glob("*.wit"))]
    files += [(f"guest/{p.name}", p) for p in sorted(guest_dir.glob("*.py"))]
    return [*files, ("build.py", Path(__file__).resolve())]


def source_digest(wit_dir: Path = WIT_DIR, guest_dir: Path = GUEST_DIR) -> str:
    """SHA-256 over the guest sources, the WIT world, this build script and the tool version."""
    digest = hashlib.sha256(f"componentize-py {COMPONENTIZE_PY_VERSION}\n".encode())
    for name, path in _sources(wit_dir, guest_dir):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _componentize(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN_COMPONENTIZE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_build_environment(),
        check=False,
    )


def _build_environment() -> dict[str, str]:
    # VIRTUAL_ENV would add the host's site-packages to the guest's search path: keep it out.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PYTHONHASHSEED="0", SOURCE_DATE_EPOCH=str(_SOURCE_MTIME), TZ="UTC", LC_ALL="C")
    return env


def _check_tool_version(cwd: Path) -> None:
    done = _componentize(["--version"], cwd)
    found = done.stdout.strip()
    if done.returncode != 0 or found != f"componentize-py {COMPONENTIZE_PY_VERSION}":
        raise BuildError(
            f"componentize-py {COMPONENTIZE_PY_VERSION} is required (pinned in pyproject's dev "
            f"group), found {found or done.stderr.strip() or 'nothing'}; run `uv sync`"
        )


def _stage(work: Path) -> Path:
    """Copy only the listed sources, with fixed mtimes, so stray files never enter the guest."""
    staged = work / "app"
    staged.mkdir()
    for path in sorted(GUEST_DIR.glob("*.py")):
        target = staged / path.name
        shutil.copyfile(path, target)
        os.utime(target, (_SOURCE_MTIME, _SOURCE_MTIME))
    os.utime(staged, (_SOURCE_MTIME, _SOURCE_MTIME))
    return staged


def build(out_dir: Path = DEFAULT_OUT, *, quiet: bool = False) -> Path:
    """Build ``guest.wasm`` into ``out_dir`` atomically, write its lock file, return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    digest = source_digest()
    with tempfile.TemporaryDirectory(prefix="ic-guest-build-") as tmp:
        work = Path(tmp)
        _check_tool_version(work)
        staged = _stage(work)
        target = work / WASM_NAME
        args = ["-d", str(WIT_DIR), "-w", WORLD, "componentize", "-p", str(staged)]
        done = _componentize([*args, APP_MODULE, "-o", str(target)], work)
        if done.returncode != 0 or not target.is_file():
            detail = (done.stderr or done.stdout).strip()[-4000:]
            raise BuildError(f"componentize-py failed (exit {done.returncode}):\n{detail}")
        final = out_dir / WASM_NAME
        os.replace(_copy_into(target, out_dir), final)
    lock = {
        "componentize_py": COMPONENTIZE_PY_VERSION,
        "source_sha256": digest,
        "wasm_sha256": _sha256_file(final),
        "wasm_bytes": final.stat().st_size,
    }
    _write_json_atomically(out_dir / LOCK_NAME, lock)
    if not quiet:
        seconds = time.monotonic() - started
        print(f"built {final} ({lock['wasm_bytes']} bytes) in {seconds:.1f} s", file=sys.stderr)
    return final


def _copy_into(source: Path, out_dir: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=out_dir, prefix=".guest-", suffix=".wasm")
    with os.fdopen(fd, "wb") as handle:
        handle.write(source.read_bytes())
    os.chmod(name, 0o644)
    return Path(name)


def _write_json_atomically(path: Path, data: dict[str, object]) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".lock-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(name, 0o644)
    os.replace(name, path)


def is_current(out_dir: Path = DEFAULT_OUT) -> bool:
    """True when ``guest.wasm`` exists, matches its lock, and the lock matches today's sources."""
    wasm, lock_path = out_dir / WASM_NAME, out_dir / LOCK_NAME
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
        return lock.get("source_sha256") == source_digest() and lock.get(
            "wasm_sha256"
        ) == _sha256_file(wasm)
    except (OSError, ValueError, AttributeError):
        return False


def ensure_built(out_dir: Path = DEFAULT_OUT) -> Path:
    """Return the path of an up-to-date ``guest.wasm``, building it first if needed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".build.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not is_current(out_dir):
            print("building the sandbox guest with componentize-py (~10-30 s)...", file=sys.stderr)
            build(out_dir)
    return out_dir / WASM_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wasm_guest.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        if args.force or not is_current(args.out):
            build(args.out)
        else:
            print(f"{args.out / WASM_NAME} is up to date", file=sys.stderr)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(args.out / WASM_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
