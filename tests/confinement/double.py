"""A test double for a confined server: ``python -m tests.confinement.double NAME ARGS...``.

It goes through the real launcher — ``appliance.cli.serve.run``, which confines the process
with NAME's profile and then imports and runs the server module — with the server module swapped
for ``main`` below, which tries what a compromised server would try and prints, as JSON, each
attempt's outcome: ``"ok"`` or the errno's name (``"EACCES"``, ...). What to try comes from the
environment (``DOUBLE_ATTEMPTS``, comma-separated; ``DOUBLE_PORT``, ``DOUBLE_UNIX``,
``DOUBLE_INSIDE`` a file in the roots the server may write, as a positive control).
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import socket
import subprocess
import sys


def _outcome(attempt) -> str:
    try:
        attempt()
    except MemoryError:
        return "ENOMEM"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    except _Refused:
        return "refused"
    return "ok"


def _read_ssh_key() -> None:
    with open(os.path.expanduser("~/.ssh/id_ed25519")) as f:
        f.read()


def _write_config() -> None:
    with open(os.path.join(os.environ["IRONCURTAIN_HOME"], "config.json"), "a") as f:
        f.write("{}")


def _chown_config() -> None:
    os.chown(os.path.join(os.environ["IRONCURTAIN_HOME"], "config.json"), os.getuid(), os.getgid())


def _read_other_session() -> None:
    home = os.environ["IRONCURTAIN_HOME"]
    with open(os.path.join(home, "sessions", "other", "sandbox", "secret.txt")) as f:
        f.read()


class _Refused(Exception):
    """The program started but ran nothing (the git server's stand-in for /bin/sh)."""


def _exec_shell() -> None:
    marker = "shell-" + "ran"
    for shell in ("/bin/sh", "/bin/bash", "/usr/bin/dash"):
        if not os.path.exists(shell):
            continue
        done = subprocess.run([shell, "-c", f"echo {marker}"], capture_output=True, text=True)
        if marker in done.stdout:
            continue  # a real shell ran: keep going, "ok" below
        raise _Refused(f"{shell}: exit {done.returncode}")


def _connect_loopback() -> None:
    with socket.create_connection(("127.0.0.1", int(os.environ["DOUBLE_PORT"])), timeout=5):
        pass


def _connect_unix() -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.environ["DOUBLE_UNIX"])


def _fork_many() -> None:
    release_r, release_w = os.pipe()
    children = []
    try:
        for _ in range(10_000):
            pid = os.fork()
            if pid == 0:  # wait until the parent is done counting, then leave
                os.close(release_w)
                os.read(release_r, 1)
                os._exit(0)
            children.append(pid)
    finally:
        os.close(release_w)
        for pid in children:
            os.waitpid(pid, 0)
        print(f"forked {len(children)}", file=sys.stderr)


def _allocate_4gib() -> None:
    with mmap.mmap(-1, 4 << 30) as area:
        area[-1] = 1


def _write_inside() -> None:
    with open(os.environ["DOUBLE_INSIDE"], "w") as f:
        f.write("written by the confined double\n")


ATTEMPTS = {
    "read_ssh_key": _read_ssh_key,
    "write_config": _write_config,
    "read_other_session": _read_other_session,
    "chown_config": _chown_config,
    "exec_shell": _exec_shell,
    "connect_loopback": _connect_loopback,
    "connect_unix": _connect_unix,
    "fork_many": _fork_many,
    "allocate_4gib": _allocate_4gib,
    "write_inside": _write_inside,
}


def main(argv: list[str]) -> int:
    names = os.environ["DOUBLE_ATTEMPTS"].split(",")
    print(json.dumps({name: _outcome(ATTEMPTS[name]) for name in names}), flush=True)
    return 0


if __name__ == "__main__":
    from appliance.cli import serve
    from appliance.cli.main import main as cli_main

    # The real launcher with the server module swapped for this double (already imported, so
    # the import after confinement needs no access to the tests folder).
    for name in serve.SERVERS:
        serve.SERVERS[name] = __spec__.name
    sys.modules[__spec__.name] = sys.modules["__main__"]
    sys.exit(cli_main(["serve", *sys.argv[1:]]))
