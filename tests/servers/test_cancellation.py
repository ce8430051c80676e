"""``notifications/cancelled`` stops the shipped servers' work (servers/wire/cancel.py).

Real servers over stdio (``python -m appliance.cli serve NAME``), driven line by line so the test
sees exactly which answers come back; real git on a repository made here, a real loopback HTTP
server. After each cancellation: no answer for the cancelled id, nothing the call started is left
running, the effect did not complete (no clone, no fetched ref, no lock or temp file), and the
server answers the next call. The malformed cancellations of tests/vectors/wire/cancellations.json
are ignored without stopping anything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers.wire.cancel import CallCancelled, Cancellation, bound
from tests.servers.mcp_lines import McpProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO_ROOT / "tests/vectors/wire/cancellations.json").read_text())["cases"]
QUIET_S = 1.5  # how long "no answer" is waited for


class RawServer(McpProcess):
    """A shipped server over stdio, its lines read on a thread, its stderr kept in a file."""

    def __init__(self, argv: list[str], stderr: Path) -> None:
        super().__init__(["serve", *argv], stderr)
        self.initialize()


@contextmanager
def serving(argv: list[str], tmp_path: Path) -> Iterator[RawServer]:
    server = RawServer(argv, tmp_path / f"stderr-{argv[0]}.txt")
    try:
        yield server
    finally:
        server.close()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of ``pid``, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def descendants(pid: int) -> dict[int, int]:
    """Every live process below ``pid``: pid -> process group."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _stat(int(entry.name))) and info[0] != "Z":
            table[int(entry.name)] = info
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, (_, parent, _) in table.items() if parent in frontier} - set(found)
        found.update({p: table[p][2] for p in frontier})
    return found


def alive(pid: int) -> bool:
    info = _stat(pid)
    return info is not None and info[0] != "Z"


def wait_for(condition, within: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"{what} within {within} s"
        time.sleep(0.02)
    return time.monotonic() - started


# --- git -----------------------------------------------------------------------------------


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    """A repository with 48 MiB of incompressible blobs, stored loose and uncompressed: a
    file:// clone or fetch of it takes seconds (pack-objects deflates it all)."""
    base = tmp_path / "base"
    src = base / "src"
    src.mkdir(parents=True)
    _git("init", "-q", cwd=src)
    for index in range(6):
        (src / f"blob{index}.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    _git("-c", "core.looseCompression=0", "add", ".", cwd=src)  # fast to make
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "big", cwd=src)
    return src


def _git_children_running(server: RawServer, within: float = 20) -> dict[int, int]:
    found: dict[int, int] = {}

    def running() -> bool:
        found.update(descendants(server.process.pid))
        return bool(found)

    wait_for(running, within, "git started")
    return found


def _leftovers(git_dir: Path) -> list[str]:
    names = ("tmp_obj_", "tmp_pack_", "tmp_idx_")
    return [
        str(p.relative_to(git_dir))
        for p in git_dir.rglob("*")
        if p.name.endswith(".lock") or p.name.startswith(names)
    ]


def _check_stopped(server: RawServer, children: dict[int, int]) -> float:
    """Every process the call started is gone (none left alive, none unreaped under the
    server); the seconds it took."""
    groups = set(children.values())

    def gone() -> bool:
        in_group = [p for p in descendants(1) if _stat(p) and _stat(p)[2] in groups]
        unreaped = [
            int(e.name)
            for e in Path("/proc").iterdir()
            if e.name.isdigit() and (_stat(int(e.name)) or ("", 0, 0))[1] == server.process.pid
        ]
        return not any(alive(p) for p in children) and not in_group and not unreaped

    return wait_for(gone, 5, "git's process group gone")


def test_cancelled_clone_stops_git_and_leaves_no_clone(tmp_path, big_repo) -> None:
    base = big_repo.parent
    target = base / "deep" / "copy"
    with serving(["git", "--base-dir", str(base)], tmp_path) as server:
        server.call(7, "git_clone", {"url": f"file://{big_repo}", "localPath": str(target)})
        children = _git_children_running(server)
        wait_for(target.exists, 20, "the clone's directory appears")
        server.cancel(7, "run limit")
        stopped = _check_stopped(server, children)
        late = server.answers(QUIET_S)
        assert [m for m in late if m.get("id") == 7] == [], "the cancelled call was answered"
        assert not (base / "deep").exists(), "a partial clone was left"
        server.call(8, "git_status", {"path": str(big_repo)})
        after = server.answer(8)
        assert after["result"]["isError"] is False, after
        assert after["result"]["structuredContent"]["isClean"] is True
    log = server.stderr()
    assert "git clone stopped, its call was cancelled: git exited on SIGTERM" in log, log
    assert "request 7 ('git_clone') cancelled by the client (reason 'run limit'): stopped" in log
    print(f"clone: git's group gone {stopped:.2f} s after the cancellation")


def _empty_repository(work: Path) -> Path:
    work.mkdir()
    _git("init", "-q", cwd=work)
    return work


def _add_origin(server: RawServer, work: Path, big_repo: Path) -> None:
    """``origin`` in ``work`` names ``big_repo``, added through the server (request 1)."""
    server.call(1, "git_remote", {"path": str(work), "mode": "add", "name": "origin",
                                  "url": f"file://{big_repo}"})  # fmt: skip
    assert server.answer(1)["result"]["isError"] is False


def test_cancelled_fetch_leaves_no_ref_lock_or_temp_file(tmp_path, big_repo) -> None:
    work = _empty_repository(big_repo.parent / "work")
    with serving(["git", "--base-dir", str(big_repo.parent)], tmp_path) as server:
        _add_origin(server, work, big_repo)
        server.call(2, "git_fetch", {"path": str(work), "remote": "origin"})
        children = _git_children_running(server)
        wait_for(lambda: _leftovers(work / ".git"), 20, "the fetch writes objects")
        server.cancel(2)
        _check_stopped(server, children)
        assert [m for m in server.answers(QUIET_S) if m.get("id") == 2] == []
        assert _leftovers(work / ".git") == []
        assert not (work / ".git" / "refs" / "remotes" / "origin").exists()
        server.call(3, "git_status", {"path": str(work)})
        assert server.answer(3)["result"]["isError"] is False
    log = server.stderr()
    assert "git fetch stopped, its call was cancelled: git exited on SIGTERM" in log, log
    print(log)


def test_timed_out_clone_stops_git_like_a_cancel_and_leaves_no_clone(tmp_path, big_repo) -> None:
    """git at its own deadline (``--timeout 0.5``: a clone gets 4x, 2 s; this one needs ~5 s) is
    stopped the way a cancellation stops it: SIGTERM to the group, reaped, its clone removed."""
    base = big_repo.parent
    target = base / "deep" / "copy"
    with serving(["git", "--base-dir", str(base), "--timeout", "0.5"], tmp_path) as server:
        started = time.monotonic()
        server.call(7, "git_clone", {"url": f"file://{big_repo}", "localPath": str(target)})
        children = _git_children_running(server)
        answer = server.answer(7, 20)
        answered = time.monotonic() - started
        assert answer["result"]["isError"] is True, answer
        assert "git clone timed out after 2 s" in answer["result"]["content"][0]["text"]
        _check_stopped(server, children)
        assert not (base / "deep").exists(), "a partial clone was left"
        server.call(8, "git_status", {"path": str(big_repo)})
        assert server.answer(8)["result"]["isError"] is False
    log = server.stderr()
    assert "git clone stopped, it timed out after 2 s: git exited on SIGTERM" in log, log
    assert answered < 2 + 2.5, answered  # the deadline and at most the stop's grace
    print(f"clone: answered {answered:.2f} s after the call (deadline 2 s)")


def test_timed_out_fetch_leaves_no_ref_lock_or_temp_file(tmp_path, big_repo) -> None:
    work = _empty_repository(big_repo.parent / "work")
    with serving(
        ["git", "--base-dir", str(big_repo.parent), "--timeout", "0.5"], tmp_path
    ) as server:
        _add_origin(server, work, big_repo)
        server.call(2, "git_fetch", {"path": str(work), "remote": "origin"})
        children = _git_children_running(server)
        answer = server.answer(2, 20)
        assert "git fetch timed out after 2 s" in answer["result"]["content"][0]["text"], answer
        _check_stopped(server, children)
        assert _leftovers(work / ".git") == []
        assert not (work / ".git" / "refs" / "remotes" / "origin").exists()
        server.call(3, "git_status", {"path": str(work)})
        assert server.answer(3)["result"]["isError"] is False
    log = server.stderr()
    assert "git fetch stopped, it timed out after 2 s: git exited on SIGTERM" in log, log
    print(log)


# --- fetch ---------------------------------------------------------------------------------


class Trickle:
    """A loopback HTTP server: headers, then one body byte every 50 ms for a minute. Records
    when the client's side of each connection is closed (``closed``)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.sent = 0
        self.connections = 0
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1200\r\n\r\n"
            try:
                conn.sendall(head)
                for _ in range(1200):
                    conn.sendall(b"x")
                    self.sent += 1
                    time.sleep(0.05)
                    conn.settimeout(0)
                    try:
                        if conn.recv(1) == b"":
                            break  # the client shut its side
                    except BlockingIOError:
                        pass
            except OSError:
                pass
            self.closed.set()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    server = Trickle()
    yield server
    server.close()


def _start_trickled_fetch(server: RawServer, trickle: Trickle, request_id: int) -> None:
    server.call(request_id, "http_fetch", {"url": trickle.url, "format": "text"})
    wait_for(lambda: trickle.sent >= 3, 20, "the body starts to arrive")


def test_cancelled_http_fetch_closes_its_connection(tmp_path, trickle) -> None:
    with serving(["fetch", "--allow-private-addresses"], tmp_path) as server:
        _start_trickled_fetch(server, trickle, 5)
        cancelled_at = time.monotonic()
        server.cancel(5, "cut off")
        assert trickle.closed.wait(3), "the HTTP request went on after the cancellation"
        aborted = time.monotonic() - cancelled_at
        assert [m for m in server.answers(QUIET_S) if m.get("id") == 5] == []
        assert trickle.sent < 1200
        server.send({"jsonrpc": "2.0", "id": 6, "method": "tools/list"})
        assert len(server.answer(6)["result"]["tools"]) == 2
    assert "request 5 ('http_fetch') cancelled by the client (reason 'cut off'): stopped" in (
        server.stderr()
    )
    print(f"fetch: connection closed {aborted:.3f} s after the cancellation")


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
def test_cancellation_vector(case, tmp_path, trickle) -> None:
    """Each notification goes to a fetch server with call 7 in flight: it cancels call 7 or is
    ignored (the connection stays open, no answer, the server keeps answering)."""
    with serving(["fetch", "--allow-private-addresses"], tmp_path) as server:
        _start_trickled_fetch(server, trickle, 7)
        server.send(case["message"])
        server.send({"jsonrpc": "2.0", "id": 99, "method": "ping"})
        seen = [m for m in server.answers(QUIET_S)]
        assert {"jsonrpc": "2.0", "id": 99, "result": {}} in seen, seen
        others = [m for m in seen if m.get("id") != 99]
        assert [m.get("error", {}).get("code") for m in others] == case["expect"]["errors"]
        if case["expect"]["cancels"]:
            assert trickle.closed.wait(3)
        else:
            assert not trickle.closed.is_set(), "an ignored cancellation stopped the call"
            server.cancel(7)  # a proper one still works afterwards
            assert trickle.closed.wait(3)
        assert [m for m in server.answers(QUIET_S) if m.get("id") == 7] == []
        assert server.process.poll() is None
    log = server.stderr()
    assert "Traceback" not in log, log
    assert not any(line.startswith("FORGED") for line in log.splitlines()), log


# --- the wire and the filesystem server's write --------------------------------------------


def test_a_queued_call_cancelled_never_starts(tmp_path) -> None:
    """One worker, busy: the call queued behind it is cancelled before it starts, never runs
    and is never answered; the busy one answers as usual."""
    import io

    from servers.wire.server import StdioServer, Tool, ToolResult

    release, ran = threading.Event(), []
    tools = [
        Tool("hold", "", {"type": "object"}, lambda a: (release.wait(10), ToolResult("held"))[1]),
        Tool("mark", "", {"type": "object"}, lambda a: (ran.append(1), ToolResult("ran"))[1]),
    ]
    server = StdioServer("t", "1", tools, max_workers=1)
    reader, writer = os.pipe()
    out = io.BytesIO()
    thread = threading.Thread(target=server.run, args=(os.fdopen(reader, "rb"), out))
    thread.start()
    with os.fdopen(writer, "wb") as pipe:
        for request_id, name in ((1, "hold"), (2, "mark")):
            call = {"name": name, "arguments": {}}
            line = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": call}
            pipe.write(json.dumps(line).encode() + b"\n")
        cancel = {"requestId": 2, "reason": "queued"}
        pipe.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                               "params": cancel}).encode() + b"\n")  # fmt: skip
        pipe.flush()
        time.sleep(0.2)
        release.set()
    thread.join(10)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in replies] == [1]
    assert ran == []
    assert server.pending == 0 and server.inflight_bytes == 0


def test_a_cancelled_write_leaves_the_file_as_it_was(tmp_path) -> None:
    """The filesystem server's write, cancelled: no temp file is left, the file is unchanged."""
    from servers.filesystem.fileio import Limits, write_atomic
    from servers.filesystem.resolve import Roots

    (tmp_path / "f.txt").write_text("before")
    cancellation = Cancellation()
    cancellation.cancel("test")
    with (
        Roots([str(tmp_path)]).locate(str(tmp_path / "f.txt")) as loc,
        bound(cancellation),
        pytest.raises(CallCancelled),
    ):
        write_atomic(loc, b"after" * 1_000_000, Limits(10_000_000, False, 0o022))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "before"
