"""mitmproxy, run as a library on its own thread and event loop inside the host process.

Only the addons mitmproxy needs to be a TLS-intercepting explicit proxy are loaded (no scripting,
no replay, no web UI), then ours. Options that would widen the boundary are pinned: lazy upstream
connections (nothing is dialled before a request passed its checks), no raw TCP fallback, no
HTTP/2, HTTP/3 or WebSocket, no ignored hosts. Upstream overrides act at name resolution, so the
flow, the SNI and the Host header still say the provider's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

# This module is the one place mitmproxy is loaded; see the ruff banned-api rule.
from mitmproxy import options
from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from appliance.credproxy import inflight
from appliance.credproxy.relay import start_unix_relay

__all__ = ["ProxyThread"]

_START_TIMEOUT = 20.0


class _ResolvingLoop(asyncio.SelectorEventLoop):
    """Resolves the overridden provider hosts to their loopback fake; everything else as usual."""

    def __init__(self, overrides: dict[str, tuple[str, int]]) -> None:
        super().__init__()
        self._overrides = overrides

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        name = host.decode() if isinstance(host, bytes) else host
        target = self._overrides.get(str(name).lower().rstrip(".")) if str(port) == "443" else None
        if target is None:
            return await super().getaddrinfo(host, port, *args, **kwargs)
        address, real_port = target
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, real_port))]


class ProxyThread:
    """Owns the thread, the loop, the mitmproxy master and the Unix-socket relay."""

    def __init__(
        self,
        addons: list[Any],
        *,
        ledger: inflight.BodyLedger,
        confdir: Path,
        overrides: dict[str, tuple[str, int]],
        upstream_ca: Path | None,
        socket_path: Path,
        socket_mode: int,
        max_body_bytes: int,
    ) -> None:
        self._addons = addons
        self._ledger = ledger
        self._settings = {
            "confdir": str(confdir),
            "listen_host": "127.0.0.1",
            "listen_port": 0,
            "mode": ["regular"],
            "connection_strategy": "lazy",
            "rawtcp": False,
            "http2": False,
            "http3": False,
            "websocket": False,
            "upstream_cert": False,
            "ignore_hosts": [],
            "allow_hosts": [],
            "tcp_hosts": [],
            "udp_hosts": [],
            "ssl_insecure": False,
            "ssl_verify_upstream_trusted_ca": str(upstream_ca) if upstream_ca else None,
            "body_size_limit": str(max_body_bytes),
            "validate_inbound_headers": True,
        }
        self._overrides = {k.lower(): v for k, v in overrides.items()}
        self._socket_path = socket_path
        self._socket_mode = socket_mode
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._port: int | None = None
        self._master: Master | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="ironcurtain-credproxy", daemon=True)

    def start(self) -> int:
        """Start and wait until both the TCP port and the socket listen; return the port."""
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the proxy did not start within {_START_TIMEOUT:.0f} s")
        if self._failure is not None:
            raise self._failure
        assert self._port is not None
        return self._port

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._failure is None

    def stop(self) -> None:
        loop, master = self._loop, self._master
        if loop is not None and master is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already gone
                loop.call_soon_threadsafe(master.should_exit.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        loop = _ResolvingLoop(self._overrides)
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the starting thread, never lost
            self._failure = self._failure or exc
        finally:
            self._ready.set()
            _cancel_all(loop)
            loop.close()

    async def _main(self) -> None:
        inflight.install(self._ledger)
        try:
            await self._serve()
        finally:
            inflight.uninstall(self._ledger)

    async def _serve(self) -> None:
        master = Master(options.Options(), event_loop=asyncio.get_running_loop())
        master.addons.add(
            core.Core(), proxyserver.Proxyserver(), next_layer.NextLayer(), tlsconfig.TlsConfig()
        )
        master.addons.add(*self._addons)
        master.options.update(**self._settings)
        self._master = master
        runner = asyncio.ensure_future(master.run())
        relay: asyncio.Server | None = None
        try:
            self._port = await _wait_for_port(master, runner)
            relay = await start_unix_relay(self._socket_path, self._socket_mode, self._port)
            self._ready.set()
            await runner
        finally:
            if relay is not None:
                relay.close()
            if not runner.done():
                master.should_exit.set()
                await runner
            # mitmproxy's shutdown leaves its listening socket open (the kernel would go on
            # accepting into the backlog after our loop is gone): close the servers explicitly.
            await master.addons.get("proxyserver").servers.update([])


async def _wait_for_port(master: Master, runner: asyncio.Future) -> int:
    server = master.addons.get("proxyserver")
    for _ in range(int(_START_TIMEOUT / 0.01)):
        if runner.done():
            runner.result()
            raise RuntimeError("mitmproxy stopped while starting")
        addresses = server.listen_addrs()
        if addresses:
            return int(addresses[0][1])
        await asyncio.sleep(0.01)
    raise RuntimeError("mitmproxy did not open its listening port")


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
