"""A headless Chromium driven through the Chrome DevTools protocol (one page, a few commands).

Chromium listens on a loopback port it picks (``--remote-debugging-port=0``) and says which on
stderr; the page's WebSocket is found through ``/json/list``. aiohttp (already installed for
litellm) speaks the WebSocket. Running as root needs ``--no-sandbox`` (Chromium's own sandbox,
not ours; this browser only visits the console on loopback).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import anyio

__all__ = ["Browser", "chromium_path"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, profile: Path) -> None:
        self._profile = profile
        self._proc: subprocess.Popen[bytes] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        binary = chromium_path()
        assert binary is not None
        args = [
            binary,
            "--headless=new",
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            f"--user-data-dir={self._profile}",
            "--window-size=1200,900",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = await anyio.to_thread.run_sync(self._read_port)
        self._http = aiohttp.ClientSession()
        with anyio.fail_after(15):
            while True:
                async with self._http.get(f"http://127.0.0.1:{port}/json/list") as reply:
                    pages = [t for t in await reply.json() if t.get("type") == "page"]
                if pages:
                    break
                await anyio.sleep(0.1)
        self._ws = await self._http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    def _read_port(self) -> int:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            found = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", raw)
            if found:
                return int(found.group(1))
        raise RuntimeError("chromium exited before opening its DevTools port")

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        number = next(self._ids)
        await self._ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        with anyio.fail_after(15):
            while True:
                message = json.loads((await self._ws.receive()).data)
                if message.get("id") == number:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_for(self, expression: str, timeout_s: float = 10) -> None:
        with anyio.fail_after(timeout_s):
            while not await self.evaluate(expression):
                await anyio.sleep(0.05)

    async def click(self, selector: str) -> None:
        """A real mouse press and release at the centre of the element, as a person clicks."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
