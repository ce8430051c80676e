"""Build the appliance: ``python packaging/build.py [--onedir] [--onefile] [--out DIR]
[--check-reproducible] [--guest guest.wasm]``, or ``--compare OUT_A OUT_B``.

Builds (or reuses an up-to-date) sandbox guest, then runs PyInstaller once on the committed spec,
which produces the one-folder layout and the one-file executable from the same analysis. The
one-folder build ships as a reproducible tarball with ``ironcurtain/ironcurtain`` at its top;
``SHA256SUMS`` lists every artifact. The environment is pinned: ``SOURCE_DATE_EPOCH`` from the
last commit, ``PYTHONHASHSEED=0``, UTC, C locale, litellm's local cost map (the spec imports
litellm to list its modules, and litellm reaches the internet at import without it).

``--check-reproducible`` builds the last commit twice, from two ``git archive`` snapshots in
different folders with one time stamp, and compares checksums; on a mismatch it names the tarball
members that differ and how. Without it the working tree is built, as it is. The guest is an
input to both builds, not rebuilt between them: componentize-py's output is not reproducible (see
DESIGN.md); the build prints its SHA-256, and ``--guest`` rebuilds with a given (release's) guest.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
REPO = PACKAGING.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(PACKAGING))

from archive import diff_tarballs, read_sums, reproducible_tarball, sha256_file, write_sums  # noqa: E402

__all__ = ["Artifacts", "BuildError", "build", "build_environment", "source_date_epoch"]

SPEC = PACKAGING / "ironcurtain.spec"
DEFAULT_OUT = PACKAGING / "build_out" / "dist"
SUMS_NAME = "SHA256SUMS"


class BuildError(RuntimeError):
    """A build step failed; the message names the step and the cause."""


@dataclass(frozen=True)
class Artifacts:
    out: Path
    folder: Path | None  # the unpacked one-folder build (for the smoke test)
    tarball: Path | None
    onefile: Path | None
    sums: Path


def version() -> str:
    from appliance import __version__

    return __version__


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine().lower()}"


def source_date_epoch(repo: Path = REPO, environ: dict[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` if set, else the last commit's time; a clear error otherwise."""
    env = os.environ if environ is None else environ
    if env.get("SOURCE_DATE_EPOCH"):
        value = env["SOURCE_DATE_EPOCH"]
        if not value.isdigit():
            raise BuildError(f"SOURCE_DATE_EPOCH must be whole seconds, not {value!r}")
        return int(value)
    done = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=False,
    )
    stamp = done.stdout.strip()
    if done.returncode != 0 or not stamp.isdigit():
        raise BuildError(
            f"cannot read the last commit's time in {repo} ({done.stderr.strip() or stamp!r}); "
            "build from a git checkout or set SOURCE_DATE_EPOCH"
        )
    return int(stamp)


def build_environment(epoch: int, modes: tuple[str, ...]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(
        SOURCE_DATE_EPOCH=str(epoch),
        PYTHONHASHSEED="0",
        TZ="UTC",
        LC_ALL="C.UTF-8",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        IRONCURTAIN_BUILD_MODES=",".join(modes),
    )
    return env


def _guest(given: Path | None, staging: Path) -> Path:
    """The guest to bundle: ``given`` (copied under its bundled name), else an up-to-date build."""
    if given is None:
        from wasm_guest.build import BuildError as GuestError
        from wasm_guest.build import ensure_built

        try:
            given = ensure_built()
        except GuestError as exc:
            raise BuildError(f"sandbox guest: {exc}") from exc
    if not given.is_file():
        raise BuildError(f"--guest {given}: no such file")
    # A private copy: a rebuild of the shared build_out during the build cannot change it.
    staged = staging / "guest.wasm"
    shutil.copyfile(given, staged)
    return staged


def _pyinstaller(source: Path, work: Path, dist: Path, env: dict[str, str]) -> None:
    spec = source / "packaging" / SPEC.name
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean"]
    command += ["--log-level", "WARN", "--workpath", str(work), "--distpath", str(dist), str(spec)]
    done = subprocess.run(command, cwd=work.parent, env=env, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {done.returncode}); its log is above")


def head_commit(repo: Path = REPO) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "HEAD^{commit}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"no commit to build in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def snapshot(target: Path, commit: str, repo: Path = REPO) -> Path:
    """``commit``'s tree (``git archive``) extracted into ``target``, as a release builds it."""
    target.mkdir(parents=True)
    archive = target.with_suffix(".tar")
    done = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", "-o", str(archive), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"git archive {commit} failed in {repo}: {done.stderr.strip()}")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()
    return target


def build(
    out: Path,
    modes: tuple[str, ...],
    *,
    source: Path = REPO,
    epoch: int | None = None,
    scratch: Path | None = None,
    guest: Path | None = None,
) -> Artifacts:
    """Build ``modes`` from ``source`` into ``out`` (replacing earlier artifacts there)."""
    if not modes:
        raise BuildError("nothing to build: choose --onedir and/or --onefile")
    epoch = source_date_epoch() if epoch is None else epoch
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ironcurtain-{version()}-{platform_tag()}"
    with tempfile.TemporaryDirectory(prefix="ic-pyi-", dir=scratch) as tmp:
        work, dist = Path(tmp) / "work", Path(tmp) / "dist"
        work.mkdir()
        bundled = _guest(guest, Path(tmp))
        print(f"sandbox guest: sha256 {sha256_file(bundled)}", file=sys.stderr)
        env = build_environment(epoch, modes)
        env["IRONCURTAIN_BUILD_GUEST"] = str(bundled)
        # PyInstaller's cache of processed binaries is private to this build: a shared one is an
        # input from outside the checkout, and a concurrent build's --clean deletes it mid-run.
        env["PYINSTALLER_CONFIG_DIR"] = str(Path(tmp) / "pyinstaller-config")
        started = time.monotonic()
        _pyinstaller(source, work, dist, env)
        print(f"PyInstaller took {time.monotonic() - started:.0f} s", file=sys.stderr)
        folder = tarball = onefile = None
        if "onedir" in modes:
            folder = out / "ironcurtain"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(dist / "ironcurtain", folder, symlinks=True)
            tarball = reproducible_tarball(folder, out / f"{stem}.tar.gz", "ironcurtain", epoch)
        if "onefile" in modes:
            onefile = out / stem
            shutil.copy2(dist / "ironcurtain-onefile", onefile)
    artifacts = [p for p in (tarball, onefile) if p is not None]
    sums = write_sums(artifacts, out / SUMS_NAME)
    return Artifacts(out=out, folder=folder, tarball=tarball, onefile=onefile, sums=sums)


def compare(first: Artifacts, second: Artifacts) -> list[str]:
    """The differences between two builds' artifacts (empty when bit-for-bit equal)."""
    a, b = read_sums(first.sums), read_sums(second.sums)
    problems = [f"{n}: {a[n]} != {b.get(n)}" for n in sorted(a) if a[n] != b.get(n)]
    tarball = first.tarball.name if first.tarball else None
    if tarball and second.tarball and a.get(tarball) != b.get(tarball):
        problems += diff_tarballs(first.tarball, second.tarball)
    return problems


def build_twice(out: Path, modes: tuple[str, ...], guest: Path) -> tuple[Artifacts, list[str]]:
    """Build HEAD from two snapshots in different folders with one time stamp and one guest.

    The artifacts of the first build land in ``out``; the second is compared with it. Building
    snapshots (not the working tree) keeps edits made during the ~10 minutes out of the result.
    """
    commit = head_commit()  # resolved once: others may commit while the first build runs
    epoch = source_date_epoch(environ={"SOURCE_DATE_EPOCH": _commit_time(commit)})
    print(f"building {commit} twice (SOURCE_DATE_EPOCH={epoch})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ic-repro-") as tmp:
        root = Path(tmp)
        source_a = snapshot(root / "a" / "src", commit)
        source_b = snapshot(root / "b" / "elsewhere" / "src", commit)
        first = build(out, modes, source=source_a, epoch=epoch, guest=guest)
        second = build(root / "b" / "dist", modes, source=source_b, epoch=epoch, guest=guest)
        return first, compare(first, second)


def _commit_time(commit: str, repo: Path = REPO) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "show", "-s", "--format=%ct", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _outputs(out: Path) -> Artifacts:
    tarballs = sorted(out.glob("ironcurtain-*.tar.gz"))
    return Artifacts(out, None, tarballs[0] if tarballs else None, None, out / SUMS_NAME)


def _compare_outputs(first: Path, second: Path) -> int:
    for out in (first, second):
        if not (out / SUMS_NAME).is_file():
            print(f"build error: {out / SUMS_NAME}: no such file", file=sys.stderr)
            return 1
    problems = compare(_outputs(first), _outputs(second))
    if problems:
        print("NOT reproducible:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"reproducible: {first} and {second} have the same SHA-256 for every artifact")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--onedir", action="store_true", help="the one-folder tarball")
    parser.add_argument("--onefile", action="store_true", help="the one-file executable")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument(
        "--check-reproducible", action="store_true", help="build twice and compare SHA-256"
    )
    parser.add_argument(
        "--guest", type=Path, help="bundle this guest.wasm (e.g. a release's) instead of building"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("OUT_A", "OUT_B"),
        help="build nothing: compare two builds' --out folders, naming differing tarball members",
    )
    args = parser.parse_args(argv)
    if args.compare:
        return _compare_outputs(*args.compare)
    chosen = tuple(m for m in ("onedir", "onefile") if getattr(args, m))
    modes = chosen or ("onedir", "onefile")
    try:
        with tempfile.TemporaryDirectory(prefix="ic-guest-") as tmp:
            # Both builds of --check-reproducible bundle this one copy of the guest.
            guest = _guest(args.guest.absolute() if args.guest else None, Path(tmp))
            if not args.check_reproducible:
                print(build(args.out.absolute(), modes, guest=guest).sums.read_text(), end="")
                return 0
            artifacts, problems = build_twice(args.out.absolute(), modes, guest)
            print(artifacts.sums.read_text(), end="")
            if problems:
                print("NOT reproducible:\n  " + "\n  ".join(problems), file=sys.stderr)
                return 1
            print("reproducible: two builds of HEAD in different folders gave the same SHA-256")
    except BuildError as exc:
        print(f"build error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
