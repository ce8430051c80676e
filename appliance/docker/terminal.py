"""One terminal for a `--pty` session: the agent's own TUI, and IronCurtain's prompt beside it.

The host process sits between the user's terminal and the container's: it puts the terminal in
raw mode, relays what the user types to the container and what the container prints back, and
keeps the container's window size in step with the terminal's. One key is never relayed:
**Ctrl-]** (the chord) opens IronCurtain's prompt, drawn by the host. The prompt also opens by
itself when a tool call of this session waits for approval.

While the prompt is open, the agent's output is held back (the newest 4 MiB; older output is
dropped, and the prompt says so) and nothing typed reaches the agent. The agent cannot type into
the prompt: what it writes goes to the screen, never to the host's input. What could — a
terminal's answer to a query the agent printed just before (cursor position, colours, a title
report) — is an escape sequence (a 7-bit ESC, an 8-bit C1 control, or bytes that are not UTF-8):
such input is dropped while the prompt is open, and so is what follows it within 0.3 s (the rest
of a long answer, split across reads).
Input typed in the first half second after the prompt opened by itself is dropped too: those
keystrokes were meant for the agent.

At the prompt (one line, Enter ends it):

- ``/approve N [similar]``, ``/deny N``, ``/approve all``, ``/deny all``, ``/list``: the
  escalation listener's commands, answered through the same request/response files, so
  ``escalation-listener`` in another terminal and the daemon still work beside it;
- any other text: a message from the user, the *trusted user message* the auto-approver weighs
  an escalation against (Docker mode has no other: what the user types into the agent's TUI is
  not told apart from what the agent prints), and whose values are granted for the task as a
  typed task's are;
- an empty line, Esc or Ctrl-] again: back to the agent (the agent's TUI is told to redraw).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import select
import socket
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.chokepoint.escalation.display import neutralise
from appliance.chokepoint.escalation.listener import HELP, Listener
from appliance.chokepoint.escalation.registry import SessionEntry

__all__ = ["CHORD", "DETACH_KEYS", "Prompt", "TerminalRelay"]

CHORD = b"\x1d"  # Ctrl-]
# The engine's own detach sequence (default Ctrl-P Ctrl-Q) would end the attachment while the
# container runs on: set it to the chord, which the relay never sends, so it cannot happen.
DETACH_KEYS = "ctrl-]"
HELD_MAX = 4 * 2**20
SETTLE_S = 0.5  # after the prompt opened by itself: keystrokes meant for the agent are dropped
TICK_S = 0.2
ANSWER_S = 0.3  # after input holding ESC at the prompt: the rest of a terminal's answer
_ESC, _ENTER, _ERASE, _CTRL_C, _CTRL_U = 0x1B, (0x0D, 0x0A), (0x7F, 0x08), 0x03, 0x15
_PROMPT = "\x1b[1mironcurtain>\x1b[0m "
_HINT = (
    "commands: /approve N [similar] | /deny N | /approve all | /deny all | /list\n"
    "any other text: a message for the auto-approver (what you asked the agent to do)\n"
    "Enter on an empty line, Esc or Ctrl-]: back to the agent"
)


class Prompt:
    """The prompt's state and commands, without terminal I/O: `feed` takes the user's bytes,
    `show` (given) prints, `on_message` (given) receives a finished message line."""

    def __init__(
        self,
        escalations: Path,
        session_id: str,
        show: Callable[[str], None],
        on_message: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = escalations
        self.show = show
        self.on_message = on_message
        self.clock = clock
        entry = SessionEntry(session_id=session_id, pid=os.getpid(), escalations_dir=escalations,
                             started=datetime.now(UTC))  # fmt: skip
        self.listener = Listener(escalations, show, sessions=lambda: [entry])
        self.is_open = False
        self.line = bytearray()
        self.seen: set[str] = set()
        self.deaf_until = 0.0

    def waiting(self) -> list[str]:
        """Ids of this session's requests not yet shown (the caller opens the prompt for them)."""
        try:
            names = sorted(p.name for p in self.folder.glob("request-*.json"))
        except OSError:
            return []
        fresh = [n[len("request-") : -len(".json")] for n in names]
        return [i for i in fresh if i not in self.seen]

    def open(self, *, by_itself: bool) -> None:
        self.is_open = True
        self.line.clear()
        if by_itself:
            self.deaf_until = self.clock() + SETTLE_S
        self.show("\n\x1b[7m IronCurtain \x1b[0m" +
                  (" a tool call waits for your answer" if by_itself else "") + "\n")  # fmt: skip
        self.refresh()
        if not self.listener.pending:
            self.show("no tool call waits for approval\n")
        self.show(_HINT + "\n" + _PROMPT)

    def refresh(self) -> None:
        """Show requests that arrived or were withdrawn since the last look."""
        self.listener.refresh()
        self.seen.update(p.request.id for p in self.listener.pending.values())

    def close(self) -> None:
        self.is_open = False
        self.line.clear()
        self.show("\n(back to the agent)\n")

    def feed(self, data: bytes) -> None:
        """Keystrokes for the open prompt (a chunk as one read returned it)."""
        if self.clock() < self.deaf_until:
            return  # typed for the agent before the prompt appeared
        if data == bytes([_ESC]):  # the Esc key alone
            self.close()
            return
        if _terminal_answer(data):
            # A terminal's answer (or an arrow key, a paste): never typed text. A long answer
            # may come in several reads, and only the first holds ESC: the rest is dropped too.
            self.deaf_until = self.clock() + ANSWER_S
            return
        for byte in data:
            if not self.is_open:
                return
            self._key(byte)

    def _key(self, byte: int) -> None:
        if byte == CHORD[0]:
            self.close()
        elif byte in _ENTER:
            self._submit(self.line.decode("utf-8", errors="replace").strip())
        elif byte in _ERASE:
            if self.line:
                text = self.line.decode("utf-8", errors="replace")[:-1]
                self.line = bytearray(text.encode("utf-8"))
                self.show("\b \b")
        elif byte in (_CTRL_C, _CTRL_U):
            self.line.clear()
            self.show("\n" + _PROMPT)
        elif byte >= 0x20:
            self.line.append(byte)
            if byte < 0x80:
                self.show(chr(byte))
            elif _complete_utf8(self.line):
                self.show(neutralise(self.line.decode("utf-8", errors="replace")[-1]))

    def _submit(self, text: str) -> None:
        self.line.clear()
        self.show("\n")
        if not text:
            self.close()
            return
        if text.startswith("/"):
            self.refresh()
            if text.split()[0].lower() in ("/quit", "/exit", "/sessions"):
                self.show(HELP + "\n")
            else:
                self.listener.handle(text)
            if not self.listener.pending and text.split()[0].lower() in ("/approve", "/deny"):
                self.close()
                return
        else:
            self.on_message(text)
            self.show("noted: the auto-approver weighs tool calls against this message\n")
            self.close()
            return
        self.show(_PROMPT)


def _terminal_answer(data: bytes) -> bool:
    """Input no keyboard types: ESC (a 7-bit answer to a query, an arrow key, a bracketed
    paste), bytes that are not UTF-8, or a C1 control (a terminal set to 8-bit controls answers
    with CSI 0x9b, OSC 0x9d, DCS 0x90, no ESC at all)."""
    if _ESC in data:
        return True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any("\x80" <= char <= "\x9f" for char in text)


def _complete_utf8(data: bytearray) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class TerminalRelay:
    """Relay between the user's terminal (`fd_in`, `fd_out`) and a container attached with a tty
    (`stream`: the engine's attach socket; `resize(rows, cols)`: the container's window)."""

    def __init__(
        self,
        stream: socket.socket,
        resize: Callable[[int, int], Any],
        prompt: Prompt,
        *,
        fd_in: int,
        fd_out: int,
    ) -> None:
        self.stream = stream
        self.resize = resize
        self.prompt = prompt
        self.fd_in, self.fd_out = fd_in, fd_out
        self.held = bytearray()
        self.dropped = 0
        self.size: tuple[int, int] | None = None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd_out, view) :]
            except BlockingIOError:
                select.select([], [self.fd_out], [], TICK_S)

    def show(self, text: str) -> None:
        """The prompt's own text: raw mode needs CR before every LF."""
        self.write(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))

    def run(self) -> None:
        """Relay until the container's side ends; the terminal is restored whatever happens."""
        saved = None
        if os.isatty(self.fd_in):
            saved = termios.tcgetattr(self.fd_in)
            tty.setraw(self.fd_in)
        try:
            self._sync_size()
            self._loop()
        finally:
            if saved is not None:
                termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)
            with contextlib.suppress(OSError):
                self.write(b"\x1b[0m\x1b[?25h\r\n")

    def _loop(self) -> None:
        reading = [self.stream, self.fd_in]
        while True:
            ready = select.select(reading, [], [], TICK_S)[0]
            self._sync_size()
            if self.prompt.is_open:
                self.prompt.refresh()
            elif self.prompt.waiting():
                self._open(by_itself=True)
            if self.stream in ready:
                data = self._receive()
                if data is None:
                    return
                if self.prompt.is_open:
                    self._hold(data)
                else:
                    self.write(data)
            if self.fd_in in ready:
                try:
                    typed = os.read(self.fd_in, 4096)
                except OSError:
                    typed = b""
                if not typed:
                    reading.remove(self.fd_in)  # the user's input ended; the agent runs on
                    continue
                self._typed(typed)

    def _receive(self) -> bytes | None:
        try:
            data = self.stream.recv(65536)
        except BlockingIOError:
            return b""
        except OSError:
            return None
        return data or None

    def _typed(self, data: bytes) -> None:
        if self.prompt.is_open:
            self.prompt.feed(data)
            if not self.prompt.is_open:
                self._resume()
            return
        before, chord, _ = data.partition(CHORD)
        if before:
            self.stream.sendall(before)
        if chord:  # what came with it in one read (a paste, typed ahead) is dropped
            self._open(by_itself=False)

    def _open(self, *, by_itself: bool) -> None:
        self.write(b"\x1b[0m\x1b[?25h\a")  # plain text, a visible cursor, the bell
        self.prompt.open(by_itself=by_itself)

    def _hold(self, data: bytes) -> None:
        self.held += data
        if len(self.held) > HELD_MAX:
            cut = len(self.held) - HELD_MAX
            self.dropped += cut
            del self.held[:cut]

    def _resume(self) -> None:
        """Back to the agent: what it printed meanwhile, then a redraw (a window size change,
        which every TUI answers by drawing itself again)."""
        if self.dropped:
            self.show(f"({self.dropped} bytes of the agent's output were dropped meanwhile)\n")
            self.dropped = 0
        held, self.held = bytes(self.held), bytearray()
        self.write(held)
        if self.size is not None:
            rows, cols = self.size
            with contextlib.suppress(Exception):
                self.resize(rows, max(1, cols - 1))
                time.sleep(0.05)
                self.resize(rows, cols)

    def _sync_size(self) -> None:
        size = terminal_size(self.fd_out)
        if size is not None and size != self.size:
            self.size = size
            with contextlib.suppress(Exception):  # the container may be gone already
                self.resize(*size)


def terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def attach(container: Any) -> socket.socket:
    """The container's tty as a socket (attached before it starts, so nothing is missed)."""
    params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "detachKeys": DETACH_KEYS}
    raw = container.client.api.attach_socket(container.id, params=params)
    return getattr(raw, "_sock", raw)


def start_relay(
    container: Any,
    escalations: Path,
    session_id: str,
    messages: queue.SimpleQueue[str],
    *,
    fd_in: int,
    fd_out: int,
) -> threading.Thread:
    """Attach, start the container, and relay on a thread (returned, started)."""
    stream = attach(container)
    relay: TerminalRelay

    def show(text: str) -> None:
        relay.show(text)

    prompt = Prompt(escalations, session_id, show, messages.put)
    relay = TerminalRelay(stream, lambda rows, cols: container.resize(height=rows, width=cols),
                          prompt, fd_in=fd_in, fd_out=fd_out)  # fmt: skip
    container.start()

    def run() -> None:
        try:
            relay.run()
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    thread = threading.Thread(target=run, name="terminal-relay", daemon=True)
    thread.start()
    return thread
