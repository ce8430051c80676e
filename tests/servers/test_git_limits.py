"""Git children run under caps (memory, CPU, open files, file size), and the test-only switch
that turns the repository checks off says so loudly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from test_git_support import GitServer, git, make_repo

from servers.git.runner import FILE_SIZE_CAP, MEMORY_CAP, OPEN_FILES_CAP, GitRunner

REPO = Path(__file__).resolve().parents[2]


def test_a_git_child_reading_dev_zero_dies_at_the_memory_cap(tmp_path: Path) -> None:
    # F4's second line: with the config checks off (test-only), blame.ignoreRevsFile=/dev/zero
    # makes git read a line that never ends; the address-space cap stops it in seconds, far
    # before the 30 s timeout that alone bounded it before.
    fx = make_repo(tmp_path)
    git(fx.repo, "config", "blame.ignoreRevsFile", "/dev/zero")
    server = GitServer("--base-dir", fx.base, "--test-only-trust-repository", "--timeout", "30")
    started = time.monotonic()
    message = server.error("git_blame", path=str(fx.repo), filePath="a.txt")
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"git ran {elapsed:.1f} s: no memory cap"
    assert "git blame failed" in message


def test_the_caps_are_on_the_child_itself(tmp_path: Path) -> None:
    # What the kernel reports for a git child (started with the runner's own argv) that waits
    # on its stdin: prlimit has set the caps and exec'd git by then.
    fx = make_repo(tmp_path)
    runner = GitRunner(timeout=20)
    argv = [*runner._argv, "hash-object", "--stdin"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=fx.repo)
    try:
        limits = _limits_when_running(proc.pid)
    finally:
        proc.communicate(b"x", timeout=20)
    assert limits["Max address space"] == str(MEMORY_CAP)
    assert limits["Max open files"] == str(OPEN_FILES_CAP)
    assert limits["Max file size"] == str(FILE_SIZE_CAP)
    assert limits["Max cpu time"] == str(20 * 4 + 5)


def _limits_when_running(pid: int) -> dict[str, str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            exe = Path(f"/proc/{pid}/exe").resolve().name
            text = Path(f"/proc/{pid}/limits").read_text()
        except OSError:
            exe, text = "", ""
        if exe == "git":  # prlimit has set the caps and exec'd git
            rows = {}
            for line in text.splitlines()[1:]:
                name = line[:26].strip()
                rows[name] = line[26:].split()[0]
            return rows
        time.sleep(0.01)
    raise AssertionError("the git child never started")


def test_the_test_only_switch_warns_on_stderr(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.cli",
            "serve",
            "git",
            "--test-only-trust-repository",
            "--base-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # never the checkout: no server may be granted our own code to write
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "WARNING: --test-only-trust-repository" in run.stderr
