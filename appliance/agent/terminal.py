"""The session's terminal: what the agent does, progress for every wait, and the input line.

Three parts, each small:

- :class:`Terminal` prints the session's events (code, results, the agent's answers, budget
  notes). A wait — the model thinking, the sandbox compiling, the servers starting — shows a
  :class:`Progress` line: on a terminal it counts seconds in place (``· thinking… 4 s``); into a
  file or pipe it prints one line, and another every 15 s while the wait goes on.
- :class:`InputLines` reads the terminal on a daemon thread. Commands that must work while the
  agent is busy — ``/approve``, ``/deny``, ``/budget``, ``/logs``, ``/quit`` — are answered at
  once by the session's handler, even while an escalation waits; every other line is queued as
  the next message.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import anyio

from appliance.chokepoint.escalation.display import neutralise_lines

__all__ = ["InputLines", "Progress", "Terminal"]

_PIPE_REPEAT_S = 15.0
_POLL_S = 0.03


class Progress:
    """A wait the user can see: started now, shown after ``after`` seconds, stopped by
    :meth:`stop` (or the ``with`` block's end)."""

    def __init__(self, stream: TextIO, label: str, *, after: float = 1.0) -> None:
        self._stream = stream
        self._label = label
        self._after = after
        self._started = time.monotonic()
        self._done = threading.Event()
        self._shown = False
        self._tty = _is_tty(stream)
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._done.is_set():
            return
        self._done.set()
        self._thread.join(timeout=1.0)
        if self._shown and self._tty:
            self._write("\r\x1b[K")  # the line counted in place: leave no trace of it

    def _run(self) -> None:
        if self._done.wait(self._after):
            return
        self._shown = True
        if not self._tty:
            self._write(f"· {self._label}…\n")
            while not self._done.wait(_PIPE_REPEAT_S):
                self._write(f"· still {self._label}… {self.elapsed:.0f} s\n")
            return
        while True:
            seconds = f" {self.elapsed:.0f} s" if self.elapsed >= 1 else ""
            self._write(f"\r· {self._label}…{seconds}\x1b[K")
            if self._done.wait(1.0):
                return

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed terminal: progress is not worth a crash
            self._done.set()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Terminal:
    """Where the session talks to the user. Tests and the demo pass their own streams."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    verbose: bool = True
    _thinking: Progress | None = None

    def report(self, kind: str, text: str) -> None:
        # The agent wrote this text (its code, what the code printed, its answer): escape
        # sequences, carriage returns and bidi overrides are shown, never obeyed.
        text = neutralise_lines(text)
        if kind == "thinking":
            self._stop_thinking()
            self._thinking = Progress(self.err, "thinking", after=0.0)
        elif kind == "thinking-done":
            self._stop_thinking()
        elif kind == "code" and self.verbose:
            print(_indent("▶ code", text), file=self.out, flush=True)
        elif kind == "code":  # quiet: one line a step, the session's shape without its detail
            lines = text.strip().splitlines() or [""]
            print(f"▶ code ({len(lines)} lines): {lines[0][:80]}", file=self.out, flush=True)
        elif kind == "result" and self.verbose:
            print(_indent("◀ result", text), file=self.out, flush=True)
        elif kind == "result":
            refused = [
                line.strip()
                for line in text.splitlines()
                if "DENIED:" in line or "INVALID ARGUMENTS:" in line
            ]
            for line in refused[:3]:
                print(f"◀ {line[:160]}", file=self.out, flush=True)
        elif kind == "assistant" and self.verbose:  # quiet: the final answer is printed once
            # its later lines indented, as code and results are: nothing the model writes
            # starts a line where the session's own escalation prompt does (a look-alike
            # "/approve 1" block printed just before the real one)
            first, *rest = text.split("\n")
            shown = "\n".join([f"agent: {first}", *(f"       {line}" for line in rest)])
            print(f"\n{shown}\n", file=self.out, flush=True)
        else:
            print(f"[{kind}] {text}", file=self.err, flush=True)

    def progress(self, label: str, *, after: float = 1.0) -> Progress:
        return Progress(self.err, label, after=after)

    def say(self, text: str) -> None:
        print(neutralise_lines(text), file=self.err, flush=True)

    def transcript(self, entries: list[tuple[str, str]]) -> None:
        """The end of an earlier conversation (on resume), one line per entry."""
        if not entries:
            return
        print("earlier in this session:", file=self.out)
        for who, text in entries:
            flat = " ".join(neutralise_lines(text).split())
            flat = flat if len(flat) <= 300 else flat[:297] + "..."
            print(f"  {who}: {flat}", file=self.out)
        print("", file=self.out, flush=True)

    def _stop_thinking(self) -> None:
        if self._thinking is not None:
            self._thinking.stop()
            self._thinking = None


def _indent(title: str, text: str) -> str:
    return title + "\n" + "\n".join("    " + line for line in text.splitlines())


class InputLines:
    """Reads the terminal on a daemon thread. ``handle(line)`` (called on that thread) answers
    commands at once: a message to print, or None to queue the line for the session. After
    ``/quit`` or end of input, :meth:`next` returns None."""

    def __init__(
        self,
        read_line: Callable[[], str | None],
        handle: Callable[[str], str | None] | None,
        terminal: Terminal,
        *,
        prompt_shown: bool = False,
    ) -> None:
        self._read_line = read_line
        self.handle = handle  # None until the session is up: every line is queued meanwhile
        self._terminal = terminal
        self.prompt_shown = prompt_shown  # the caller printed the first "> " already
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, name="terminal-input", daemon=True).start()

    def pending(self) -> bool:
        """Has the user entered a line (or closed input) that nobody has taken yet?"""
        return not self._queue.empty()

    def _pump(self) -> None:
        while True:
            try:
                line = self._read_line()
            except (EOFError, OSError, UnicodeDecodeError):
                line = None
            if line is None:
                self._queue.put(None)
                return
            try:
                answer = self.handle(line.strip()) if self.handle is not None else None
            except Exception as exc:  # the input thread must survive a failing command
                answer = f"that command failed: {type(exc).__name__}: {exc}"
            if answer is not None:
                print(answer, file=self._terminal.out, flush=True)
            else:
                self._queue.put(line)
            if line.strip().split()[:1] == ["/quit"]:
                return  # nothing more to read; a queued /quit is handled by the session

    async def next(self) -> str | None:
        # Polled, not a blocking get in a worker thread: anyio's workers are not daemons, so
        # one left waiting for a line would keep the process alive after the session ended.
        while True:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                await anyio.sleep(_POLL_S)
