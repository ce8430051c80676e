"""A scripted stand-in for ``signal-cli daemon --tcp`` on loopback: JSON-RPC 2.0, one object per
line, answering ``send`` and ``listIdentities`` and pushing ``receive`` notifications."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

RECIPIENT = "+15550001111"
SAFETY = "12345 67890 " * 5


class SignalPeer:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.sent: list[dict[str, Any]] = []
        self.identities: list[dict[str, Any]] = [
            {"number": RECIPIENT, "safetyNumber": SAFETY, "trustLevel": "TRUSTED_VERIFIED"}
        ]
        self._conn: socket.socket | None = None
        self.linked: dict[str, Any] = {}
        self._connected = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:  # one client at a time (setup, then the daemon)
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        self._conn = conn
        self._connected.set()
        for raw in conn.makefile("rb"):
            request = json.loads(raw)
            if request["method"] == "send":
                self.sent.append(request["params"])
                result: Any = {"timestamp": int(time.time() * 1000)}
            elif request["method"] == "startLink":
                result = {"deviceLinkUri": "sgnl://linkdevice?uuid=test&pub_key=test"}
            elif request["method"] == "finishLink":
                self.linked = request["params"]
                result = {}
            elif request["method"] == "listIdentities":
                result = [i for i in self.identities if i["number"] == request["params"]["number"]]
            else:
                reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601}}
                conn.sendall(json.dumps(reply).encode() + b"\n")
                continue
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def push(self, text: str, source: str = RECIPIENT) -> None:
        """The recipient's phone sends ``text``."""
        assert self._connected.wait(5)
        envelope = {
            "source": source,
            "sourceNumber": source,
            "sourceUuid": "0f0f0f0f-0000-4000-8000-000000000001",
            "timestamp": int(time.time() * 1000),
            "dataMessage": {"timestamp": int(time.time() * 1000), "message": text},
        }
        note = {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": envelope}}
        assert self._conn is not None
        self._conn.sendall(json.dumps(note).encode() + b"\n")

    def messages(self) -> list[str]:
        return [m["message"] for m in list(self.sent)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._server.close()
