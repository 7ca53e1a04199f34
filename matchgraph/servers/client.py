"""Talking to one MCP server through the official SDK client: what `import mcp` and the gateway share.

`connect` starts (stdio) or reaches (streamable HTTP, SSE) a server and yields an initialized
`ClientSession`; `listing` reads everything it offers, following `nextCursor` through every page.

A stdio server's stdout must carry only JSON-RPC. The SDK logs a traceback for every other line
and goes on waiting, so a server that prints a banner or a log on stdout used to bury its one
useful error under hundreds of tracebacks. Here the first such line ends the connection with one
error (`NotJsonRpc`) that quotes it, and the SDK's per-line traceback is not logged.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, TextIO

import anyio

from .specs import Resolved

PAGES_MAX = 1000  # a server that keeps returning cursors must not hang a listing
QUOTED = 120  # characters of a bad stdout line quoted in the error


class NotJsonRpc(Exception):
    """The server wrote a line on stdout that is not a JSON-RPC message."""


class _ParseFailures(logging.Filter):
    """Drops the SDK's per-line 'Failed to parse JSONRPC message' tracebacks: `connect` reports
    the first bad line itself, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to parse JSONRPC message")


logging.getLogger("mcp.client.stdio").addFilter(_ParseFailures())


def _bad_line(exc: Exception) -> str:
    """The stdout line a parse error is about, quoted and cut."""
    errors = getattr(exc, "errors", None)
    line = None
    if callable(errors):
        try:
            line = next((e.get("input") for e in errors() if isinstance(e.get("input"), str)), None)
        except Exception:  # not a pydantic error after all
            line = None
    text = line if line is not None else str(exc)
    return repr(text[:QUOTED] + ("…" if len(text) > QUOTED else ""))


@asynccontextmanager
async def connect(server: Resolved, errlog: TextIO,
                  on_notification: Callable[[Any], Awaitable[None]] | None = None) -> AsyncIterator[Any]:
    """An initialized ClientSession with `server`; its stderr goes to `errlog`, its notifications
    (e.g. tools/list_changed) to `on_notification`. Raises NotJsonRpc when a stdio server writes
    anything but JSON-RPC on stdout (the session is closed first)."""
    from mcp import ClientSession

    bad: list[Exception] = []
    scope = anyio.CancelScope()

    async def handle(message: Any) -> None:
        if isinstance(message, Exception):  # a transport fault: on stdio, a line that is not JSON-RPC
            if not bad:
                bad.append(message)
                scope.cancel()
            return
        if on_notification is not None:
            await on_notification(message)

    with scope:
        async with _transport(server, errlog) as (read, write):
            async with ClientSession(read, write, message_handler=handle) as session:
                await session.initialize()
                yield session
    if bad:
        raise NotJsonRpc(f"it wrote a line on stdout that is not JSON-RPC: {_bad_line(bad[0])} (an MCP "
                         "stdio server must print only JSON-RPC messages on stdout; logs go to stderr)")


@asynccontextmanager
async def _transport(server: Resolved, errlog: TextIO) -> AsyncIterator[tuple[Any, Any]]:
    if server.transport == "stdio":
        from mcp import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=str(server.command), args=server.args, env=server.env or None,
                                       cwd=server.cwd)
        async with stdio_client(params, errlog=errlog) as streams:
            yield streams
    elif server.transport == "sse":
        from mcp.client.sse import sse_client

        async with sse_client(str(server.url), headers=server.headers or None) as streams:
            yield streams
    else:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=server.headers or None) as http:
            async with streamable_http_client(str(server.url), http_client=http) as streams:
                yield streams


async def pages(call: Callable[..., Awaitable[Any]], attribute: str) -> list[Any]:
    """Every item of a paginated list call (tools/list, prompts/list, resources/list): the cursor
    goes back as `params.cursor`, as the SDK's list methods take it."""
    from mcp_types import PaginatedRequestParams

    items, cursor = [], None
    for _ in range(PAGES_MAX):
        result = await (call(params=PaginatedRequestParams(cursor=cursor)) if cursor else call())
        items += list(getattr(result, attribute) or [])
        cursor = getattr(result, "next_cursor", None)
        if not cursor:
            break
    return items


async def listing(session: Any, tools_only: bool = False) -> dict[str, Any]:
    """What an initialized session's server offers: {info, instructions, tools, prompts, resources}."""
    init = session.initialize_result
    offered = init.capabilities
    wanted = lambda capability: bool(capability) and not tools_only  # noqa: E731
    return {"info": init.server_info, "instructions": getattr(init, "instructions", None),
            "tools": await pages(session.list_tools, "tools") if offered.tools else [],
            "prompts": await pages(session.list_prompts, "prompts") if wanted(offered.prompts) else [],
            "resources": await pages(session.list_resources, "resources") if wanted(offered.resources) else []}
