"""The web console under a connection flood: ``python tests/bench/bench_console_flood.py [N]``.

A daemon (its console on a free loopback port, started as the console tests start it) runs in a
child process; this process opens N (default 500) connections to it of one kind at a time and
reads the child's thread count and resident memory from ``/proc``:

- ``idle``: connect and send nothing;
- ``trickle``: a request line, then one byte of a header every 0.5 s (slowloris);
- ``big-head``: a request line and 15 header lines of 60 KiB each, sent at once, then held open.

It samples both for 12 s (the most is reported), then times a person's request while they are
held (the token URL, then the page with the cookie), and 12 s later counts the held connections
the console has not closed; last, the tracebacks the console wrote to its stderr. ``--reconnect``
re-opens every connection the console closes, as fast as it can, while the person's request is
timed. Measured, not asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
sys.path.insert(0, str(Path(__file__).parents[1] / "daemon"))

from figures import figure

KINDS = ("idle", "trickle", "big-head")
HOLD_S = 12
HEADER = b"X-Pad: " + b"a" * (60 * 1024) + b"\r\n"


def serve(root: str) -> None:
    """The child: a daemon over the test rig, its console's coordinates on stdout, then wait."""
    from daemon_rig import Rig

    from appliance.daemon.run import Daemon, DaemonFiles

    rig = Rig(Path(root))
    daemon = Daemon(rig.registry, DaemonFiles(Path(root) / "daemon"), "127.0.0.1", 0)
    daemon.hub = rig.hub
    daemon.start()
    console = daemon.console
    assert console is not None
    print(json.dumps({"port": console.port, "token": console.token, "base": console.base}))
    sys.stdout.flush()
    sys.stdin.read()
    daemon.stop()


def status(pid: int) -> tuple[int, float]:
    """The child's thread count and resident memory (MiB)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def head(port: int) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()


def attacker(port: int, kind: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    try:
        if kind == "trickle":
            conn.sendall(head(port) + b"X-Slow: ")
        elif kind == "big-head":
            conn.sendall(head(port) + HEADER * 15)
    except OSError:
        pass  # the console answered and closed before it was all sent
    conn.setblocking(False)
    return conn


def alive(conn: socket.socket) -> bool:
    """Still open from the console's side (a reply it sent before closing is read and dropped)."""
    try:
        while conn.recv(65536):
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def person(port: int, token: str, base: str) -> tuple[float, int]:
    """Seconds for the token URL and the page it leads to, and the page's status (0: failed)."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(head(port).replace(b"GET / ", f"GET /?token={token} ".encode()) + b"\r\n")
            if b" 303 " not in conn.makefile("rb").readline():
                return time.perf_counter() - start, 0
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            request = head(port).replace(b"GET / ", f"GET {base} ".encode())
            conn.sendall(request + f"Cookie: ironcurtain_console={token}\r\n\r\n".encode())
            line = conn.makefile("rb").readline()
    except OSError:
        return time.perf_counter() - start, 0
    return time.perf_counter() - start, int(line.split()[1]) if line else 0


def trickle(conns: list[socket.socket], kind: str) -> None:
    if kind != "trickle":
        return
    for conn in conns:
        with contextlib.suppress(OSError):  # closed by the console: what is measured
            conn.send(b"a")


def one_kind(pid: int, info: dict, kind: str, n: int, reconnect: bool) -> None:
    port = info["port"]
    threads0, rss0 = status(pid)
    conns = []
    for _ in range(n):  # paced, so that the console accepts each (its listen queue is short)
        conns.append(attacker(port, kind))
        time.sleep(0.004)
    peak = [status(pid)]
    for _ in range(2 * HOLD_S):
        time.sleep(0.5)
        trickle(conns, kind)
        peak.append(status(pid))
    threads, rss = max(t for t, _ in peak), max(r for _, r in peak)
    tag = f"{kind} x{n}" + (" reconnecting" if reconnect else "")
    figure(f"console threads at most, {tag} held (idle: {threads0})", threads, "threads")
    figure(f"console RSS at most, {tag} held (idle: {rss0:.0f} MiB)", rss, "MiB")
    if reconnect:
        took, code = _person_while_reconnecting(port, info, conns, kind)
    else:
        took, code = person(port, info["token"], info["base"])
    figure(f"a person's page, {tag} held (status {code})", took * 1000, "ms")
    for _ in range(2 * HOLD_S):  # as long again, still trickling
        time.sleep(0.5)
        trickle(conns, kind)
    figure(f"held connections still open {HOLD_S} s later, {tag}", sum(map(alive, conns)), "conns")
    threads, rss = status(pid)
    figure(f"console threads {HOLD_S} s later, {tag}", threads, "threads")
    for conn in conns:
        conn.close()
    time.sleep(1)


def _person_while_reconnecting(port: int, info: dict, conns: list, kind: str):
    """The person's request from a thread while this one re-opens what the console closes."""
    result: list[tuple[float, int]] = []
    job = threading.Thread(target=lambda: result.append(person(port, info["token"], info["base"])))
    job.start()
    while job.is_alive():
        for i, conn in enumerate(conns):
            if not alive(conn):
                conn.close()
                with contextlib.suppress(OSError):
                    conns[i] = attacker(port, kind)
    return result[0]


def main() -> None:
    n = int(next((a for a in sys.argv[1:] if a.isdigit()), "500"))
    reconnect = "--reconnect" in sys.argv
    kinds = [a for a in sys.argv[1:] if a in KINDS] or list(KINDS)
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", tmp],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert child.stdout is not None
                info = json.loads(child.stdout.readline())
                one_kind(child.pid, info, kind, n, reconnect)
            finally:
                _, errors = child.communicate("", timeout=30)
            figure(f"tracebacks on the console's stderr, {kind}", errors.count("Traceback"), "")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        main()
