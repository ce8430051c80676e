"""The MCP servers behind the chokepoint: started lazily over stdio, restarted when they die.

Only the chokepoint talks to this module. Each server runs as a child process of the host
(``ironcurtain serve NAME`` from the same executable), with a minimal environment: provider API
keys never reach a server. The wire is MCP over stdio through ``servers.wire.client`` (the
project's light core, not the SDK: see that module for why). A server's connection lives in its
own task (the client's reader belongs to the task that opened it); calls from any task use the
client it publishes.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from appliance import __version__
from appliance.chokepoint.content import content_text
from appliance.chokepoint.redact import redact_literals
from appliance.errors import ApplianceError
from servers.wire.client import ClientError, McpClient, ProtocolError, RemoteError, StdioClient

__all__ = ["ServerCallError", "ServerPool", "ServerSpec", "ToolInfo", "self_command", "tool_info"]

log = logging.getLogger(__name__)

# What a server inherits from the host: enough to run git and find a home, nothing secret.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")


def self_command() -> list[str]:
    """How to start this same program again (frozen executable or ``python -P -m``).

    ``-P``: ``python -m`` would put the working folder first on ``sys.path``, and a server starts
    in the agent's workspace (the project folder ``start`` runs in, a declared server's sandbox):
    an ``appliance/__init__.py`` or ``anyio.py`` the agent wrote there would run as the host,
    before the server confines itself. The frozen executable never searches the working folder."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-P", "-m", "appliance.cli"]


@dataclass(frozen=True)
class ServerSpec:
    name: str
    args: tuple[str, ...] = ()  # arguments after ``serve NAME``
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    call_timeout_s: float = 120.0
    # Any other MCP server over stdio (and test servers): the full command, used instead.
    argv: tuple[str, ...] | None = None
    # The server's judge: a JSON-RPC method it answers with the call as it will run it and the
    # copy the policy judges (facts that need I/O: a git remote's URL). Declared here, per
    # server, so the chokepoint asks whichever server has one and names none.
    judge: str | None = None
    # Credentials in ``env`` (and the like): redacted from the audit wherever they appear.
    secrets: tuple[str, ...] = ()
    # The tools this server lists, known without starting it (a shipped server: see
    # appliance.session.catalog). Only the catalogue uses it; calls check the live list.
    catalog: tuple[ToolInfo, ...] | None = None
    # A remote server (Streamable HTTP): its endpoint and the headers sent with its requests
    # only (its credentials). No process, no confinement: see open_client.
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.url is not None

    def command(self) -> list[str]:
        if self.argv:
            return list(self.argv)
        return [*self_command(), "serve", self.name, *self.args]

    def environment(self) -> dict[str, str]:
        base = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
        base["PYTHONUNBUFFERED"] = "1"
        if self.argv is None:  # our own executable only; another program must not see these
            from appliance.host.bundle import child_environment

            # A one-file build's servers reuse the parent's unpacked folder (0.12 s, not 0.76 s).
            base.update(child_environment())
        base.update(self.env)
        return base


@dataclass(frozen=True)
class ToolInfo:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]

    def catalog_entry(self) -> dict[str, Any]:
        # The schema is the server's word: any shape of it gives an entry (a declared server's
        # malformed schema must not end the session's start for every server).
        props = self.input_schema.get("properties")
        required = self.input_schema.get("required")
        return {
            "server": self.server,
            "name": self.name,
            "description": self.description,
            "required": [r for r in required if isinstance(r, str)]
            if isinstance(required, list)
            else [],
            "properties": {
                k: v.get("type", "any") if isinstance(v, dict) else "any" for k, v in props.items()
            }
            if isinstance(props, dict)
            else {},
        }


@dataclass(frozen=True)
class ServerResult:
    text: str
    structured: dict[str, Any] | None
    is_error: bool


class ServerCallError(ApplianceError):
    """The server could not answer (died, timed out, refused to start). The agent sees a short
    message; the operator's log has the detail. ``server_text``: what the server itself wrote
    into the message (a JSON-RPC error's), which the agent reads as it reads a result."""

    def __init__(self, message: str, server_text: str | None = None) -> None:
        super().__init__(message)
        self.server_text = server_text


class _Connection:
    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.client: McpClient | None = None
        self.tools: dict[str, ToolInfo] = {}
        self.ready = anyio.Event()
        self.stop = anyio.Event()
        self.failure: BaseException | None = None
        # set by the server's notifications/tools/list_changed: the list is read again before
        # the chokepoint next looks at it (ServerPool.tools)
        self.tools_changed = False

    def heard(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/tools/list_changed":
            self.tools_changed = True

    def usable(self) -> bool:
        return self.client is not None and self.client.broken is None

    async def serve(self) -> None:
        try:
            with open(os.devnull, "w") as quiet:
                errlog = sys.stderr if os.environ.get("IRONCURTAIN_SERVER_STDERR") else quiet
                client = open_client(self.spec, errlog)
                client.on_notification = self.heard
                async with client, anyio.create_task_group() as starting:
                    # ``stop`` ends the connection at any point, the handshake included: a
                    # server that never answers ``initialize`` is abandoned by the pool after
                    # its start timeout, and must not keep its process (or the pool) waiting.
                    starting.start_soon(_cancel_on, self.stop, starting.cancel_scope)
                    if self.spec.argv is None and not self.spec.remote and os.getuid() == 0:
                        starting.start_soon(_place_root_server, self.spec.name, client.pid)
                    await client.initialize("ironcurtain", __version__)
                    self.tools = {
                        t["name"]: tool_info(self.spec.name, t) for t in await client.list_tools()
                    }
                    self.client = client
                    self.ready.set()
                    await self.stop.wait()
        except Exception as exc:  # reported to callers through .failure
            self.failure = exc
            log.warning("server %s stopped: %r", self.spec.name, exc)
        finally:
            self.client = None
            self.ready.set()


async def _cancel_on(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


def open_client(spec: ServerSpec, errlog: Any) -> McpClient:
    """The transport the declaration names: Streamable HTTP for a ``url``, else a child
    process over stdio."""
    if spec.remote:
        from servers.wire.http_client import HttpClient

        return HttpClient(spec.url or "", headers=spec.headers, timeout_s=spec.call_timeout_s)
    keep = 0 if errlog is sys.stderr else _STDERR_KEPT  # shown live, or its end kept
    return StdioClient(
        spec.command(), env=spec.environment(), cwd=spec.cwd, stderr=errlog, keep_stderr=keep
    )


# The end of a server's standard error kept, for the reason it did not start (its last line).
_STDERR_KEPT = 4096


async def _place_root_server(name: str, pid: int | None) -> None:
    """Move a server started as root into its pids cgroup while it is still importing: the
    move costs the kernel a grace period (5-15 ms) that would otherwise delay the server's own
    confinement step (appliance.confinement.process). Best effort: the server does it itself
    if this has not happened by then."""
    if pid is None:
        return
    from appliance.confinement.process import place_in_pids_cgroup
    from appliance.confinement.profile import ProfileError, load_profile

    try:
        limit = load_profile(name).limits.processes
        await anyio.to_thread.run_sync(place_in_pids_cgroup, pid, limit)
    except (OSError, ProfileError) as exc:
        log.debug("server %s: pids cgroup left to the server itself: %r", name, exc)


def tool_info(server: str, tool: dict[str, Any]) -> ToolInfo:
    """One entry of a ``tools/list`` answer (or of the shipped catalogue) as the host keeps it."""
    schema = tool.get("inputSchema")
    description = tool.get("description")
    return ToolInfo(
        server,
        tool["name"],
        description if isinstance(description, str) else "",
        dict(schema) if isinstance(schema, dict) else {"type": "object"},
    )


class ServerPool:
    """Lazily started MCP servers. Use inside ``async with ServerPool(specs) as pool``."""

    def __init__(self, specs: Sequence[ServerSpec], start_timeout_s: float = 30.0) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self._connections: dict[str, _Connection] = {}
        self._locks = {name: anyio.Lock() for name in self.specs}
        self._group: TaskGroup | None = None
        self._start_timeout_s = start_timeout_s
        # hears (server, {"added", "removed", "changed"}) after a tools/list_changed re-read
        self.on_tools_changed: Callable[[str, dict[str, list[str]]], None] | None = None

    async def __aenter__(self) -> ServerPool:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for connection in self._connections.values():
            connection.stop.set()
        assert self._group is not None
        await self._group.__aexit__(*exc_info)

    def has_server(self, name: str) -> bool:
        return name in self.specs

    async def _connection(self, name: str) -> _Connection:
        current = self._connections.get(name)
        if current is not None and current.usable():  # the common case: no lock on the hot path
            return current
        async with self._locks[name]:
            current = self._connections.get(name)
            if current is not None:
                if current.usable():
                    return current
                current.stop.set()  # its server died or broke the protocol: let its task end
            connection = _Connection(self.specs[name])
            self._connections[name] = connection
            assert self._group is not None
            self._group.start_soon(connection.serve, name=f"mcp-{name}")
            with anyio.move_on_after(self._start_timeout_s):
                await connection.ready.wait()
            if connection.client is None:
                connection.stop.set()
                raise _not_started(connection) from _innermost(connection.failure)
            return connection

    async def tools(self, name: str) -> dict[str, ToolInfo]:
        connection = await self._connection(name)
        if connection.tools_changed:
            await self._reread_tools(connection)
        return connection.tools

    async def _reread_tools(self, connection: _Connection) -> None:
        """After ``tools/list_changed``: the new list replaces the old one (new tools are then
        unannotated, changed schemas stale, for the chokepoint's structural checks) and
        ``on_tools_changed`` hears the difference once. A list that cannot be read refuses
        the server's calls until it can."""
        name = connection.spec.name
        async with self._locks[name]:
            if not connection.tools_changed:
                return  # another task read it meanwhile
            connection.tools_changed = False
            listed = await self._list_again(connection)
            before = connection.tools
            connection.tools = {t["name"]: tool_info(name, t) for t in listed}
            change = _tools_change(before, connection.tools)
            if any(change.values()) and self.on_tools_changed is not None:
                self.on_tools_changed(name, change)

    async def _list_again(self, connection: _Connection) -> list[dict[str, Any]]:
        """``tools/list`` on the open connection (not through ``_ask``, which may take the
        server's lock this runs under); a failure leaves the list marked changed."""
        client, spec = connection.client, connection.spec
        try:
            if client is None:
                raise ProtocolError("the connection closed before the request")
            with anyio.fail_after(spec.call_timeout_s):
                return await client.list_tools()
        except (TimeoutError, ClientError) as exc:
            connection.tools_changed = True
            if not isinstance(exc, RemoteError | TimeoutError):
                connection.stop.set()  # broken: the next call starts it afresh
                connection.client = None
            raise ServerCallError(f"the {spec.name} server's new tool list is unreadable") from exc

    async def start_all(self) -> None:
        """Start every server now (not at its first call). Docker mode needs this: run as root,
        it lends the workspace to the agent's uid for the session, and a confined server (no
        CAP_DAC_OVERRIDE) can open its root only before that."""
        async with anyio.create_task_group() as group:
            for name in self.specs:
                group.start_soon(self.tools, name)

    async def all_tools(self) -> list[ToolInfo]:
        """Every server's tools, for the agent's catalogue. A server whose list is known
        (``ServerSpec.catalog``) and not yet running is not started for it."""
        found: list[ToolInfo] = []

        async def collect(name: str) -> None:
            found.extend((await self.tools(name)).values())

        async with anyio.create_task_group() as group:
            for name, spec in self.specs.items():
                running = self._connections.get(name)
                if spec.catalog is not None and (running is None or not running.usable()):
                    found.extend(spec.catalog)
                else:
                    group.start_soon(collect, name)
        return sorted(found, key=lambda t: (t.server, t.name))

    async def judge(
        self, server: str, tool: str, arguments: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Ask ``server``'s declared judge for ``(arguments to run, arguments to judge)``;
        None when the server declares no judge. :class:`ServerCallError` when it refuses."""
        method = self.specs[server].judge
        if method is None:
            return None
        params = {"tool": tool, "arguments": arguments}
        answer = await self._ask(server, tool, "judging", lambda c: c.request(method, params))
        run, judged = answer.get("arguments"), answer.get("judged")
        if not isinstance(run, dict) or not isinstance(judged, dict):
            raise ServerCallError(f"the {server} server's judge answered without arguments")
        return run, judged

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> ServerResult:
        """Run the tool; ``while_waiting`` (must not raise) runs while the server works."""
        result = await self._ask(
            server,
            tool,
            "during",
            lambda c: c.call_tool(tool, arguments, while_waiting=while_waiting),
        )
        structured = result.get("structuredContent")
        # The server's own credentials never travel on to the agent, even if it echoes them.
        hidden = self.specs[server].secrets
        return ServerResult(
            text=redact_literals(content_text(result.get("content") or []), hidden),
            structured=redact_literals(structured, hidden)
            if isinstance(structured, dict)
            else None,
            is_error=bool(result.get("isError")),
        )

    async def _ask(
        self,
        server: str,
        tool: str,
        doing: str,
        send: Callable[[McpClient], Awaitable[Any]],
    ) -> Any:
        """One request to ``server`` about ``tool`` under its call timeout, every failure turned
        into :class:`ServerCallError` (``doing`` words the broken-connection message)."""
        connection = await self._connection(server)
        client = connection.client
        timeout = connection.spec.call_timeout_s
        try:
            if client is None:
                raise ProtocolError("the connection closed before the request")
            # A bare cancel scope with a deadline (what fail_after wraps in two generator-based
            # context managers): half the cost on every call. Only its own deadline can cancel
            # it (nobody else holds it), so reaching the line after it means it timed out.
            with anyio.CancelScope(deadline=anyio.current_time() + timeout):
                return await send(client)
            raise TimeoutError
        except TimeoutError as exc:
            raise ServerCallError(f"{server}.{tool} timed out after {timeout:g} s") from exc
        except RemoteError as exc:
            # The server refused the request itself (not the tool): it is still healthy.
            raise ServerCallError(
                f"the {server} server refused {tool}: {exc.message}", server_text=exc.message
            ) from exc
        except ClientError as exc:
            # A dead pipe or protocol failure: drop the connection so the next call restarts it.
            connection.stop.set()
            connection.client = None
            raise ServerCallError(f"the {server} server failed {doing} {tool}") from exc


def _not_started(connection: _Connection) -> ServerCallError:
    name = connection.spec.name
    if connection.spec.remote:  # the operator needs the reason (DNS, TLS, 401, garbage…)
        why = _innermost(connection.failure) or "no answer in time"
        # the reason may hold what the remote end wrote (an error's text, a status line)
        return ServerCallError(f"the {name} server is unreachable: {why}", server_text=str(why))
    why = _innermost(connection.failure)
    if isinstance(why, ProtocolError):  # how it ended: its exit status, its last words
        # (its last line may hold what the agent wrote: a result's text, as for a remote one)
        return ServerCallError(f"the {name} server did not start: {why}", server_text=str(why))
    return ServerCallError(f"the {name} server did not start")


def _innermost(error: BaseException | None) -> BaseException | None:
    """The error itself, not the task groups it came through."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _tools_change(
    before: Mapping[str, ToolInfo], after: Mapping[str, ToolInfo]
) -> dict[str, list[str]]:
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(
            n for n in set(before) & set(after) if before[n].input_schema != after[n].input_schema
        ),
    }
