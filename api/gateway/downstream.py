"""The gateway's downstream servers: one official-SDK client session per configured server, kept
open between calls.

A `Downstream` starts its server when first needed (at the gateway's start, or on the next call
after it crashed or hung), keeps the session in a task of the gateway's task group, and relists
the server's tools when the server sends `notifications/tools/list_changed`. A call that fails
for the server's sake — it is unknown, cannot start, crashes, or does not answer within
`gateway.call_timeout` — raises `DownstreamError` naming the server (and quoting the end of its
stderr, secrets redacted); the gateway keeps serving, and the next call starts the server again.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from anyio.abc import TaskGroup

from matchgraph.core.errors import ValidationFailed
from matchgraph.servers.client import NotJsonRpc, connect, listing
from matchgraph.servers.specs import Resolved, ServerSpec

log = logging.getLogger("matchgraph.gateway")
STDERR_TAIL = 600  # characters of a failed server's stderr quoted in its error
STOP_GRACE = 8.0  # seconds a server is given to stop at the gateway's exit (the SDK's own escalation ~4 s)


class DownstreamError(Exception):
    """A downstream server could not serve a call; the message names it (secrets redacted)."""


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Downstream:
    """One configured server and its open session (None while it is not running)."""

    def __init__(self, spec: ServerSpec, start_timeout: float, call_timeout: float,
                 on_tools_changed: Callable[["Downstream"], Awaitable[None]]):
        self.spec = spec
        self.name = spec.name
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.on_tools_changed = on_tools_changed
        self.tools: dict[str, Any] = {}  # name -> mcp_types.Tool, from its last listing
        self.listing: dict[str, Any] | None = None
        self.error: str | None = None  # why it is not running, when it failed
        self.resolved: Resolved | None = None
        self.group: TaskGroup | None = None  # set by Downstreams.running
        self._session: Any = None
        self._lock = anyio.Lock()
        self._stop = anyio.Event()
        self._stopped: anyio.Event | None = None
        self._stderr_tail = ""
        self._scope: anyio.CancelScope | None = None

    @property
    def running(self) -> bool:
        return self._session is not None

    def _failure(self, why: str) -> str:
        redact = self.resolved.redact if self.resolved is not None else (lambda text: text)
        tail = redact(self._stderr_tail)
        return f"server '{self.name}': {redact(why)}" + (f"; its stderr ends: {tail}" if tail else "")

    async def ensure(self) -> Any:
        """The open session, starting the server first when it is not running."""
        async with self._lock:
            if self._session is not None:
                return self._session
            if self._stopped is not None:  # a previous run is still shutting down
                with anyio.move_on_after(STOP_GRACE):
                    await self._stopped.wait()
            assert self.group is not None, "Downstreams.running() starts the servers"
            ready, self._stop, self._stopped = anyio.Event(), anyio.Event(), anyio.Event()
            self.error, self._stderr_tail = None, ""
            self.group.start_soon(self._run, ready)
            with anyio.move_on_after(self.start_timeout) as waited:
                await ready.wait()
            if waited.cancelled_caught:
                self.stop()
                with anyio.move_on_after(STOP_GRACE):
                    await self._stopped.wait()  # its stderr tail is read when its run ends
                self.error = self._failure(f"did not start and list its tools within {self.start_timeout:g} s "
                                           "(gateway.start_timeout)")
            if self._session is None:
                raise DownstreamError(self.error or self._failure("did not start"))
            return self._session

    async def _run(self, ready: anyio.Event) -> None:
        """The server's lifetime: connect, list, serve calls until stopped (`stop` cancels it,
        whatever it is waiting for; the SDK then ends the process) or broken."""
        stopped = self._stopped
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog, \
                anyio.CancelScope() as self._scope:
            if self._stop.is_set():
                self._scope.cancel()
            try:
                self.resolved = self.spec.resolved(where=f"mcpServers.{self.name}")
                async with connect(self.resolved, errlog, self._notified) as session:
                    offered = await listing(session, tools_only=True)
                    self.listing, self.tools = offered, {t.name: t for t in offered["tools"]}
                    self._session = session
                    ready.set()
                    await self._stop.wait()
            except ValidationFailed as exc:
                self.error = f"server '{self.name}': " + "; ".join(exc.problems)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:  # the SDK raises groups, OSError, MCPError, httpx errors
                leaf = _leaf(exc)
                if isinstance(leaf, anyio.get_cancelled_exc_class()):
                    raise
                errlog.seek(0)
                self._stderr_tail = errlog.read()[-STDERR_TAIL:].strip()
                if isinstance(leaf, NotJsonRpc):
                    why = str(leaf)
                elif isinstance(leaf, FileNotFoundError) and self.spec.transport == "stdio":
                    why = f"cannot start: command '{self.spec.command}' not found"
                else:
                    why = f"{type(leaf).__name__}: {leaf}"
                self.error = self._failure(why if self._session is None else f"the connection broke: {why}")
            finally:
                errlog.seek(0)
                self._stderr_tail = self._stderr_tail or errlog.read()[-STDERR_TAIL:].strip()
                self._session = None
                ready.set()
                if stopped is not None:
                    stopped.set()

    async def _notified(self, message: Any) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification) and self.group is not None:
            self.group.start_soon(self.relist)  # not inline: the listing awaits this same session

    async def relist(self) -> None:
        """Read the tools again (after tools/list_changed) and tell the gateway."""
        session = self._session
        if session is None:
            return
        try:
            offered = await listing(session, tools_only=True)
        except Exception as exc:  # keep the old list; the next call reports a broken server
            log.warning("%s", self._failure(f"relisting its tools failed: {type(exc).__name__}: {exc}"))
            return
        self.listing, self.tools = offered, {t.name: t for t in offered["tools"]}
        await self.on_tools_changed(self)

    def stop(self) -> None:
        """Stop the server (starting or running): its session closes and the SDK ends the process."""
        self._stop.set()
        self._session = None
        if self._scope is not None:
            self._scope.cancel()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """tools/call on this server; its result unchanged (an `isError` result included)."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        session = await self.ensure()
        if tool not in self.tools:
            known = ", ".join(sorted(self.tools)[:30]) or "none"
            raise DownstreamError(f"server '{self.name}' has no tool '{tool}' (its tools: {known})")
        try:
            with anyio.fail_after(self.call_timeout):
                return await session.call_tool(tool, arguments)
        except TimeoutError:
            self.stop()
            raise DownstreamError(self._failure(f"{tool} got no answer within {self.call_timeout:g} s "
                                                "(gateway.call_timeout); the server is restarted on the next call")) from None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:  # the server answered with a JSON-RPC error: it still runs
                raise DownstreamError(self._failure(f"{tool} failed: {exc.error.message}")) from None
            why = "crashed"
        except Exception as exc:
            why = f"failed: {type(exc).__name__}: {exc}"
        self.stop()
        if self._stopped is not None:
            with anyio.move_on_after(STOP_GRACE):
                await self._stopped.wait()  # its stderr tail is read when its run ends
        raise DownstreamError(self._failure(f"{why} during {tool}; it is restarted on the next call"))


class Downstreams:
    """Every configured server by name; `running()` gives them the task group they live in."""

    def __init__(self, specs: list[ServerSpec], start_timeout: float, call_timeout: float,
                 on_tools_changed: Callable[[Downstream], Awaitable[None]]):
        self.servers = {s.name: Downstream(s, start_timeout, call_timeout, on_tools_changed) for s in specs}

    def get(self, name: str) -> Downstream:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers)
            raise DownstreamError(f"unknown server '{name[:200]}' (this gateway has: {known})") from None

    async def start_all(self) -> None:
        """Start every server at once; one that fails is logged (named) and left for its next call."""
        async def start(server: Downstream) -> None:
            try:
                await server.ensure()
            except DownstreamError as exc:
                log.warning("%s", exc)

        async with anyio.create_task_group() as group:
            for server in self.servers.values():
                group.start_soon(start, server)

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Downstreams"]:
        async with anyio.create_task_group() as group:
            for server in self.servers.values():
                server.group = group
            try:
                yield self
            finally:
                for server in self.servers.values():
                    server.stop()
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    for server in self.servers.values():
                        if server._stopped is not None:
                            await server._stopped.wait()
                group.cancel_scope.cancel()
