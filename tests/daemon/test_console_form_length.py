"""The console's form posts with a bad ``Content-Length``, sent by a real HTTP client to the
real console: each gets a clean 400 or 413 naming what was wrong (``int()`` raised in the request
thread, or took ``+5`` and ``1_0``), and a body shorter than announced does not hold a thread."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_rig import Rig

from appliance.daemon import bounded_http
from appliance.daemon.console import Console
from appliance.daemon.run import Daemon, DaemonFiles

BAD = [
    ("abc", 400, "must be a number of bytes"),
    ("-5", 400, "must be a number of bytes"),
    ("+5", 400, "must be a number of bytes"),
    ("1_0", 400, "must be a number of bytes"),
    ("5.0", 400, "must be a number of bytes"),
    ("0x10", 400, "must be a number of bytes"),
    ("0", 400, "the form is empty"),
    ("16385", 413, "at most 16384 bytes"),
    ("99999999999999999999", 413, "at most 16384 bytes"),
    ("9" * 5000, 413, "at most 16384 bytes"),  # int() refuses more than 4300 digits
    ("0" * 5000, 400, "the form is empty"),
]
GOOD = ["16384", "0" * 5000 + "6"]  # past the length check: refused for want of a CSRF token


@pytest.fixture
def console(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    monkeypatch.setattr(bounded_http, "REQUEST_DEADLINE_S", 0.5)
    running = Daemon(rig.registry, DaemonFiles(tmp_path / "daemon"), "127.0.0.1", 0)
    running.hub = rig.hub
    running.start()
    assert running.console is not None
    yield running.console
    running.stop()


def _post(console: Console, lengths: list[str], body: bytes = b"csrf=x") -> tuple[int, str]:
    conn = http.client.HTTPConnection(console.host, console.port, timeout=5)
    try:
        conn.putrequest("POST", f"{console.base}answer", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"{console.host}:{console.port}")
        conn.putheader("Cookie", f"ironcurtain_console={console.token}")
        for length in lengths:
            conn.putheader("Content-Length", length)
        conn.endheaders(body)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("length", "status", "why"),
    BAD,
    ids=[b[0] if len(b[0]) < 25 else f"{len(b[0])} digits" for b in BAD],
)
def test_a_bad_content_length_gets_a_clean_answer(
    console: Console, length: str, status: int, why: str
) -> None:
    assert _post(console, [length])[:1] == (status,)
    assert why in _post(console, [length])[1]
    # the console still answers; a good form gets past the length (and fails its CSRF check)
    assert _post(console, [str(len(b"csrf=x"))])[0] == 401


def test_no_or_two_content_lengths_are_refused(console: Console) -> None:
    assert _post(console, [])[0] == 400
    status, page = _post(console, ["6", "6"])
    assert status == 400 and "one Content-Length header" in page


def test_non_ascii_digits_are_refused(console: Console) -> None:
    """``int('١٢')`` is 12: only ASCII digits count."""
    head = (
        f"POST {console.base}answer HTTP/1.1\r\nHost: {console.host}:{console.port}\r\n"
        f"Cookie: ironcurtain_console={console.token}\r\n"
    ).encode() + "Content-Length: ١٢\r\n\r\ncsrf=x&id=1".encode()
    with socket.create_connection((console.host, console.port), timeout=5) as conn:
        conn.sendall(head)
        assert conn.makefile("rb").readline().startswith(b"HTTP/1.0 400 ")


def test_a_body_shorter_than_announced_times_out_cleanly(console: Console) -> None:
    with socket.create_connection((console.host, console.port), timeout=5) as conn:
        conn.sendall(
            (
                f"POST {console.base}answer HTTP/1.1\r\nHost: {console.host}:{console.port}\r\n"
                f"Cookie: ironcurtain_console={console.token}\r\n"
                "Content-Length: 100\r\n\r\ncsrf=x"
            ).encode()
        )
        status = conn.makefile("rb").readline()  # the connection stays open meanwhile
    assert status.startswith(b"HTTP/1.0 408 ")


@pytest.mark.parametrize("length", GOOD, ids=["16384", "leading zeros"])
def test_a_good_content_length_is_read(console: Console, length: str) -> None:
    size = int(length.lstrip("0"))
    assert _post(console, [length], b"csrf=x" + b" " * (size - 6))[0] == 401
