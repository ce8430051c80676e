"""The `--pty` relay and its prompt (appliance/docker/terminal.py), driven through a real
pseudo-terminal as the user's terminal. The container's side is a socket pair here (what the
engine's attach socket is to the relay); test_inline_escalation.py runs the same relay against a
real container. Cases are data: tests/vectors/docker/pty_prompt.json."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import queue
import select
import socket
import struct
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.chokepoint.escalation.files import request_path, response_path, write_atomic
from appliance.docker.terminal import SETTLE_S, Prompt, TerminalRelay
from tests.escalation.esc_factories import trequest

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "docker" / "pty_prompt.json").read_text()
)
SESSION = "pty-test"


class Terminal:
    """A relay between a pseudo-terminal (the user's) and a socket pair (the container's)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.user, tty_side = pty.openpty()
        fcntl.ioctl(tty_side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.agent, stream = socket.socketpair()
        self.messages: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.resizes: list[tuple[int, int]] = []
        relay: TerminalRelay

        def show(text: str) -> None:
            relay.show(text)

        prompt = Prompt(folder, SESSION, show, self.messages.put)
        relay = TerminalRelay(stream, lambda r, c: self.resizes.append((r, c)), prompt,
                              fd_in=tty_side, fd_out=tty_side)  # fmt: skip
        self.relay, self.tty_side = relay, tty_side
        self.screen = b""
        self.thread = threading.Thread(target=relay.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 5  # typing before raw mode would be the line discipline's
        while termios.tcgetattr(tty_side)[3] & termios.ICANON and time.monotonic() < deadline:
            time.sleep(0.01)

    def type(self, data: bytes) -> None:
        os.write(self.user, data)
        time.sleep(0.05)  # one read each

    def wait_for(self, text: bytes, timeout: float = 5) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.screen and time.monotonic() < deadline:
            if select.select([self.user], [], [], 0.1)[0]:
                self.screen += os.read(self.user, 65536)
        assert text in self.screen, self.screen.decode(errors="replace")
        return self.screen

    def received(self) -> bytes:
        self.agent.setblocking(False)
        data = b""
        try:
            while chunk := self.agent.recv(65536):
                data += chunk
        except BlockingIOError:
            pass
        return data

    def close(self) -> None:
        self.agent.close()  # the container's side ends: the relay returns
        self.thread.join(5)
        os.close(self.user)
        os.close(self.tty_side)


def _bytes(chunk: str) -> bytes:
    """A vector's chunk as the terminal sends it: text as UTF-8, or raw bytes written in hex
    after "__8BIT__" (8-bit controls that are not JSON text)."""
    if chunk.startswith("__8BIT__"):
        return bytes.fromhex(chunk[len("__8BIT__") :])
    return chunk.encode()


def _ask(folder: Path) -> Any:
    request = trequest("req1", SESSION)
    write_atomic(request_path(folder, request.id), request.to_file_json())
    return request


def _answer(folder: Path) -> str | None:
    path = response_path(folder, "req1")
    return json.loads(path.read_text())["decision"] if path.exists() else None


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_the_prompt_answers_only_what_the_user_typed(tmp_path: Path, case: dict) -> None:
    folder = tmp_path / "escalations"
    folder.mkdir()
    if case["opened"] == "itself":
        _ask(folder)
    terminal = Terminal(folder)
    try:
        if case["opened"] == "itself":
            terminal.wait_for(b"a tool call waits for your answer")
            terminal.wait_for(b"ironcurtain>")
        else:
            terminal.type(b"\x1d")
            terminal.wait_for(b"ironcurtain>")
            _ask(folder)
            terminal.wait_for(b"[1] filesystem/write_file")
        if case["settled"]:
            time.sleep(SETTLE_S + 0.1)
        for chunk in case["chunks"]:
            terminal.type(_bytes(chunk))
        time.sleep(0.3)
        assert _answer(folder) == case["answer"]
        messages = []
        while not terminal.messages.empty():
            messages.append(terminal.messages.get())
        assert messages == ([case["message"]] if case["message"] else [])
        assert terminal.received() == case["to_agent"].encode()
    finally:
        terminal.close()


@pytest.mark.parametrize("case", VECTORS["relay"]["cases"], ids=lambda c: repr(c["typed"]))
def test_the_chord_never_reaches_the_agent(tmp_path: Path, case: dict) -> None:
    terminal = Terminal(tmp_path / "escalations")
    try:
        terminal.type(case["typed"].encode())
        time.sleep(0.2)
        assert terminal.received() == case["to_agent"].encode()
        opened = b"ironcurtain>" in terminal.screen or b"ironcurtain>" in _drain(terminal)
        assert opened == case["prompt_opens"]
    finally:
        terminal.close()


def _drain(terminal: Terminal) -> bytes:
    while select.select([terminal.user], [], [], 0.1)[0]:
        terminal.screen += os.read(terminal.user, 65536)
    return terminal.screen


def test_what_the_agent_prints_is_held_while_the_prompt_is_open(tmp_path: Path) -> None:
    """The agent's output never lands in the prompt (it could draw a fake one); it is shown
    after the prompt closes, and the agent is told to redraw (a window size change)."""
    terminal = Terminal(tmp_path / "escalations")
    try:
        time.sleep(0.3)
        assert terminal.resizes == [(40, 120)]  # the terminal's size, given at the start
        terminal.type(b"\x1d")
        terminal.wait_for(b"ironcurtain>")
        before = len(terminal.resizes)
        terminal.agent.sendall(b"\r\nironcurtain> [1] approved FAKE-BY-AGENT")
        time.sleep(0.3)
        assert b"FAKE-BY-AGENT" not in _drain(terminal)
        terminal.type(b"\r")  # an empty line: back to the agent
        terminal.wait_for(b"FAKE-BY-AGENT")
        screen = terminal.screen
        assert screen.index(b"(back to the agent)") < screen.index(b"FAKE-BY-AGENT")
        time.sleep(0.2)
        assert terminal.resizes[before:] == [(40, 119), (40, 120)]  # the redraw nudge
    finally:
        terminal.close()


def test_the_terminal_is_restored_when_the_container_ends(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path / "escalations")
    saved = None
    try:
        time.sleep(0.2)
        saved = termios.tcgetattr(terminal.tty_side)
        assert not saved[3] & termios.ICANON  # raw while relaying
        terminal.agent.close()
        terminal.thread.join(5)
        assert not terminal.thread.is_alive()
        assert termios.tcgetattr(terminal.tty_side)[3] & termios.ICANON  # cooked again
    finally:
        os.close(terminal.user)
        os.close(terminal.tty_side)
