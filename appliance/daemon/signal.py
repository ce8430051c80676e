"""Signal as an escalation channel, through ``signal-cli``'s JSON-RPC daemon (``--tcp``).

signal-cli speaks JSON-RPC 2.0, one JSON object per line: we send ``send`` (``recipient``,
``message``) and ``listIdentities`` (``number``) requests; it pushes ``receive`` notifications
whose ``params.envelope`` carries ``sourceNumber``/``sourceUuid`` and ``dataMessage.message``.

Each new pending escalation is sent to the one paired recipient with its short id. Replies:
``approve N``, ``deny N``, ``status``, ``sessions``. When a session ends the recipient is told
how (finished, or stopped and why: a budget, the model). Only messages from the paired recipient
are read (others are counted, and recorded at the 1st, 10th, 100th ...), and an approval or
denial is acted on only while that recipient's identity key is the one trusted at ``ironcurtain
signal setup`` (its safety number, checked with ``listIdentities`` before every answer): a
changed key stops answers until re-trusted. The answer goes through the hub with
the call digest of the escalation announced under that short id, so it binds to what was shown.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from appliance.chokepoint.escalation.display import neutralise as _n
from appliance.chokepoint.escalation.display import shown_arguments, shown_value
from appliance.daemon.hub import Hub, Pending
from appliance.daemon.pages import STATE_READ_LIMIT, budget_use
from appliance.session.budget import WARN_FRACTION
from appliance.session.state_file import read_state

__all__ = ["CHANNEL", "SignalBridge", "SignalConfig", "SignalRpc"]

CHANNEL = "signal"
_MAX_LINE = 1024 * 1024


class SignalConfig(BaseModel):
    """``daemon/signal.json`` (0600), written by ``ironcurtain signal setup``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=7583, ge=1, le=65535)
    account: str = Field(min_length=2)
    recipient: str = Field(min_length=2)
    safety_number: str = Field(min_length=1)


class SignalRpc:
    """A JSON-RPC client of ``signal-cli daemon --tcp``; notifications go to ``on_notify``."""

    def __init__(self, host: str, port: int, on_notify: Any) -> None:
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.settimeout(None)
        self._file = self._sock.makefile("rwb")
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future[Any]] = {}
        self._write_lock = threading.Lock()
        self._on_notify = on_notify
        threading.Thread(target=self._read, daemon=True).start()

    def call(self, method: str, params: dict[str, Any], timeout_s: float = 10) -> Any:
        number = next(self._ids)
        future: Future[Any] = Future()
        self._waiting[number] = future
        line = json.dumps({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        with self._write_lock:
            self._file.write(line.encode() + b"\n")
            self._file.flush()
        try:
            return future.result(timeout=timeout_s)
        finally:
            self._waiting.pop(number, None)

    def _read(self) -> None:
        try:
            for raw in self._file:
                if len(raw) > _MAX_LINE:
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                number = message.get("id")
                if isinstance(number, int) and number in self._waiting:
                    future = self._waiting[number]
                    if "error" in message:
                        future.set_exception(RuntimeError(str(message["error"])))
                    else:
                        future.set_result(message.get("result"))
                elif message.get("method") == "receive":
                    self._on_notify(message.get("params"))
        except OSError:
            pass
        finally:
            for future in list(self._waiting.values()):
                if not future.done():
                    future.set_exception(ConnectionError("signal-cli closed the connection"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _describe(item: Pending) -> tuple[str, bool]:
    """The message for one escalation, and whether it shows the whole call. Every value the call
    chose (a path, a URL) is shown with its newlines, bidi overrides and other unprintable
    characters escaped, as on the terminal: a file name is any bytes, and a raw newline in one
    would forge the message's next lines. The arguments follow (the role values cut free text at
    500 characters); arguments too long for one message are cut, and such a call can only be
    denied here."""
    req, n = item.request, shown_value
    lines = [
        f"IronCurtain escalation {item.short_id}: {n(req.server)}/{n(req.tool)}",
        f"session {n(req.session_id)}",
    ]
    lines += [f"{n(role)}: {n(value)}" for role, values in req.targets.items() for value in values]
    arguments, whole_shown = shown_arguments(req.arguments, _ARGUMENTS_LIMIT)
    lines.append(f"arguments: {arguments}")
    lines.append(f"why: {n(req.reason)}")
    if whole_shown:
        lines.append(f"reply: approve {item.short_id} | deny {item.short_id}")
    else:
        lines.append(f"too long to show here: approve on the console; reply: deny {item.short_id}")
    return "\n".join(lines), whole_shown


_ARGUMENTS_LIMIT = 3000


class SignalBridge:
    """Announce the hub's pending escalations to the recipient and act on their replies."""

    def __init__(
        self,
        hub: Hub,
        config: SignalConfig,
        start_task: Callable[[str, str], str] | None = None,
    ) -> None:
        self.hub, self.config = hub, config
        # `new NAME TASK`: run job NAME with TASK (the daemon's scheduler); None: not offered
        self._start_task = start_task
        self._announced: dict[str, str] = {}  # short id -> call digest shown
        self._announced_at: dict[str, float] = {}  # short id -> when it was sent (epoch s)
        self._cut: set[str] = set()  # short ids whose call did not fit a message: deny only
        self._known: dict[str, Path] = {}  # live session id -> its folder
        self._gone: dict[str, float] = {}  # session id -> when it left the registry
        self._budget_told: dict[str, set[str]] = {}  # session id -> budgets noticed at 80 %
        self._budget_read: dict[str, tuple[int, int, int]] = {}  # session id -> file stamp
        self.strangers = 0  # messages from senders who are not the recipient, ignored
        self._lock = threading.Lock()
        self.rpc = SignalRpc(config.host, config.port, self._on_receive)

    def send(self, text: str) -> None:
        params = {"account": self.config.account, "recipient": [self.config.recipient]}
        self.rpc.call("send", {**params, "message": text})

    def announce(self) -> None:
        """Send every pending escalation not sent yet (called after each hub refresh)."""
        for item in self.hub.pending():
            with self._lock:
                if item.short_id in self._announced:
                    continue
                self._announced[item.short_id] = item.request.call_digest
                self._announced_at[item.short_id] = time.time()
                text, whole = _describe(item)
                if not whole:
                    self._cut.add(item.short_id)
            try:
                self.send(text)
            except BaseException:
                with self._lock:  # not delivered: try again on the next refresh
                    del self._announced[item.short_id]
                raise

    def _identity_ok(self) -> bool:
        params = {"account": self.config.account, "number": self.config.recipient}
        try:
            identities = self.rpc.call("listIdentities", params)
        except (RuntimeError, ConnectionError, TimeoutError):
            return False
        if not isinstance(identities, list):
            return False
        return any(
            isinstance(i, dict)
            and i.get("safetyNumber") == self.config.safety_number
            and i.get("trustLevel") != "UNTRUSTED"
            for i in identities
        )

    def _on_receive(self, params: Any) -> None:
        envelope = params.get("envelope") if isinstance(params, dict) else None
        if not isinstance(envelope, dict):
            return
        data = envelope.get("dataMessage")
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):
            return  # receipts, typing notices, sync messages
        sender = {envelope.get("sourceNumber"), envelope.get("sourceUuid"), envelope.get("source")}
        if self.config.recipient not in sender:
            self._ignore_stranger()
            return
        written = envelope.get("timestamp")
        written_s = written / 1000 if isinstance(written, int) else 0.0
        args = (text.strip(), written_s)
        threading.Thread(target=self._command_or_quiet, args=args, daemon=True).start()

    def _command_or_quiet(self, text: str, written_s: float) -> None:
        # signal-cli went away (or the daemon stops) while the reply was sent: as in the
        # refresh loop, nothing to tell anyone, and the console and the listener still answer
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self._command(text, written_s)

    def _ignore_stranger(self) -> None:
        """A message from anyone but the paired recipient: unread, unanswered, and counted
        (anyone who knows the account's number can send one)."""
        reason = "message from a sender who is not the paired recipient"
        self.strangers = self.hub.refuse_counted(CHANNEL, reason)

    def _command(self, text: str, written_s: float = 0.0) -> None:
        words = text.lower().split()
        if words == ["status"]:
            pending = self.hub.pending()
            n = shown_value
            lines = [f"{p.short_id}: {n(p.request.server)}/{n(p.request.tool)}" for p in pending]
            self.send("\n".join(lines) or "no pending escalations")
        elif words == ["sessions"]:
            names = [f"{_n(s.session_id)} (pid {s.pid})" for s in self.hub.sessions]
            self.send("\n".join(names) or "no running sessions")
        elif len(words) == 2 and words[0] in ("approve", "deny"):
            self._answer(words[0], words[1], written_s)
        elif words[:1] == ["new"] and self._start_task is not None:
            self._new_task(text)
        else:
            extra = " | new JOB TASK" if self._start_task is not None else ""
            self.send(f"commands: approve N | deny N | status | sessions{extra}")

    def _new_task(self, text: str) -> None:
        """``new NAME TASK``: job NAME runs with TASK. Like an answer, only from the paired
        recipient whose identity key is still the trusted one, and only for a job that opted in
        (``--signal-tasks``): its workspace, policy, budgets and escalation rule apply."""
        parts = text.split(None, 2)
        if len(parts) < 3 or not parts[2].strip():
            self.send("usage: new JOB TASK (a job added with --signal-tasks)")
            return
        if not self._identity_ok():
            return self._untrusted(f"new {parts[1]}")
        assert self._start_task is not None
        self.send(self._start_task(parts[1].lower(), parts[2].strip()))

    def _untrusted(self, command: str) -> None:
        """The recipient's number with another identity key (a new phone, or whoever holds the
        number now): refused, told, and counted like a stranger (it may send without end)."""
        why = "recipient's identity key is not the trusted one"
        self.hub.refuse_counted(CHANNEL, why, _n(command[:40]))
        self.send("refused: your identity key changed; re-trust it with "
                  "`ironcurtain signal setup` on the daemon's machine")  # fmt: skip

    def _answer(self, decision: str, short_id: str, written_s: float = 0.0) -> None:
        if not self._identity_ok():
            return self._untrusted(f"{decision} {short_id}")
        with self._lock:
            digest = self._announced.get(short_id, "")
            announced_at = self._announced_at.get(short_id)
            cut = short_id in self._cut
        if cut and decision == "approve":
            why = f"escalation {short_id} was too long to show here; approve it on the console"
            self.hub.refuse(CHANNEL, why, short_id=short_id, digest=digest)
            self.send(f"refused: {why}")
            return
        if announced_at is not None and written_s < announced_at - _CLOCK_SKEW_S:
            # short ids start at 1 again with each daemon: a reply written before this
            # escalation was sent (delivered late) was meant for another one
            why = f"written before escalation {short_id} was sent; answer it again"
            self.hub.refuse(CHANNEL, why, short_id=short_id, digest=digest)
            self.send(f"refused: {why}")
            return
        result = self.hub.answer(short_id, decision, digest, CHANNEL, who=self.config.recipient)
        self.send(result.message if result.ok else f"refused: {result.message}")

    def watch_sessions(self, now: float) -> None:
        """Tell the recipient when a session ends, with why (finished, or stopped: budget...).

        The registry entry goes before the session writes its final state, so an ended session
        is watched until ``session.json`` leaves ``running`` (or for ``_END_WAIT_S``).
        """
        live = {entry.session_id: entry.escalations_dir.parent for entry in self.hub.sessions}
        for session_id, folder in live.items():
            self._known.setdefault(session_id, folder)
            self._budget_notice(session_id, folder)
        for session_id in list(self._known):
            if session_id in live:
                continue
            folder = self._known[session_id]
            since = self._gone.setdefault(session_id, now)
            state, reason = _final_state(folder)
            if state == "running" and now - since < _END_WAIT_S:
                continue
            del self._known[session_id], self._gone[session_id]
            self._budget_told.pop(session_id, None)
            self._budget_read.pop(session_id, None)
            # the state and reason come from session.json (a reason may quote a model's or a
            # server's error): neutralised as escalation values are, or a newline forges lines
            why = f": {_n(reason)}" if reason else ""
            self.send(f"IronCurtain session {_n(session_id)} ended, {_n(state)}{why}")

    def _budget_notice(self, session_id: str, folder: Path) -> None:
        """Once per budget of a live session, when its use reaches 80 % of the limit.

        Called on every refresh (20 times a second): ``session.json`` is read again only when
        it was replaced since (the session rewrites it after each model step), not each time.
        Use only grows, so a rewrite missed by the stamp is caught by the next one."""
        try:
            info = (folder / "session.json").stat()
        except OSError:
            return
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._budget_read.get(session_id) == stamp:
            return
        self._budget_read[session_id] = stamp
        told = self._budget_told.setdefault(session_id, set())
        for name, (used, limit) in budget_use(folder).items():
            if limit and used >= WARN_FRACTION * limit and name not in told:
                told.add(name)
                self.send(
                    f"IronCurtain session {_n(session_id)}: {_n(name)} budget at {used} of {limit} "
                    f"({round(100 * used / limit)} %); it stops at the limit"
                )

    def close(self) -> None:
        self.rpc.close()


_END_WAIT_S = 10.0
_CLOCK_SKEW_S = 1.0  # the phone's clock may run this far behind the daemon's


def _final_state(session_dir: Path) -> tuple[str, str]:
    """(state, reason) from ``session.json``; ("unknown", "") when it cannot be read."""
    data = read_state(session_dir, STATE_READ_LIMIT)
    state, reason = data.get("state"), data.get("reason", "")
    return (
        state if isinstance(state, str) else "unknown",
        reason[:300] if isinstance(reason, str) else "",
    )
