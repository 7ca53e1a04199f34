"""The gateway's MCP server: `find_tools` (the same tool `matchgraph mcp` offers, over the
gateway's home) and `call_tool`, which forwards to a downstream server; over stdio
(`run_stdio`) or streamable HTTP (`run_http`)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from matchgraph.core.errors import MatchgraphError
from matchgraph.engine.engine import Engine

from ..app import Service
from ..mcp import TOOLS, _Server
from ..mcp_tools import Tools
from ..mcp_transport import transport_security
from .downstream import DownstreamError
from .gateway import Gateway

log = logging.getLogger("matchgraph.gateway")
FIRST_INDEX_WAIT = 300.0  # seconds a find_tools waits for the first index (then it answers what the home has)

INSTRUCTIONS = """\
matchgraph gateway: one server in front of many MCP servers. Do not guess tool names: call
`find_tools` with the user's need in their own words; each result names a tool under `tool`
(`server`, `name`, `input_schema`). Then `call_tool` with that server, that tool name and
arguments that fit its input schema; the tool's own result comes back unchanged. Calls of tools
that find_tools returned teach the gateway which tools serve which needs."""

CALL_TOOL = (
    "Call a tool of a server behind the gateway",
    "Run one tool of one of the gateway's MCP servers and return that tool's result unchanged. "
    "Use after find_tools: pass `server` and `tool` as a result's tool.server and tool.name, and "
    "`arguments` matching its tool.input_schema. A server that is unknown, cannot start, crashes "
    "or does not answer in time gives an error naming it; the gateway restarts it on the next call.",
    ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True),
)


class _GatewayServer(_Server):
    """Notes every find_tools answer for the client session that asked (Gateway.remember)."""

    gateway: Gateway

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if name == "find_tools" and not self.gateway.indexed.is_set():
            with anyio.move_on_after(FIRST_INDEX_WAIT):
                await self.gateway.indexed.wait()  # the first index of the servers' tools
        result = await super().call_tool(name, arguments, context)
        if name == "find_tools" and arguments.get("record", True) is not False and context is not None \
                and not getattr(result, "is_error", False):
            self.gateway.remember(_session(context), str(arguments.get("need", "")),
                                  getattr(result, "structured_content", None))
        return result


def _session(ctx: Context | None) -> Any:
    """The client connection a call came in on (one on stdio; one per mcp-session-id over HTTP).
    The SDK builds a ServerSession per request around the connection's `Connection`; only the
    latter lasts from a find_tools to the call_tool that follows it (and has no public accessor
    on the high-level Context)."""
    try:
        session = ctx.request_context.session if ctx is not None else None
    except ValueError:
        return None
    return getattr(session, "_connection", session)


def create_gateway_server(gateway: Gateway) -> _GatewayServer:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    server = _GatewayServer("matchgraph-gateway", title="matchgraph gateway", version="0.1.0",
                            instructions=INSTRUCTIONS, log_level="WARNING")
    root.handlers[:], root.level = saved  # the SDK calls logging.basicConfig: keep the host's logging
    server.gateway = gateway
    tools = Tools(gateway.engine)
    title, description, hints = TOOLS["find_tools"]  # the same tool `matchgraph mcp` offers
    server.add_tool(tools.find_tools, name="find_tools", title=title, description=description, annotations=hints)

    async def call_tool(
        server: Annotated[str, Field(min_length=1, max_length=200, description="the tool's server, as find_tools "
                                                                                "gave it in tool.server")],
        tool: Annotated[str, Field(min_length=1, max_length=300, description="the tool's name (tool.name)")],
        arguments: Annotated[dict[str, Any], Field(description="the tool's arguments, per its input_schema")] = {},
        ctx: Context = None,
    ) -> CallToolResult:
        try:
            return await gateway.call(_session(ctx), server, tool, arguments or {})
        except DownstreamError as exc:
            log.warning("%s", exc)
            raise ToolError(str(exc)) from None

    server.add_tool(call_tool, name="call_tool", title=CALL_TOOL[0], description=CALL_TOOL[1],
                    annotations=CALL_TOOL[2])
    return server


# -- transports -----------------------------------------------------------------------------------
async def _serve(gateway: Gateway, serve_forever) -> None:
    service = Service(gateway.engine)
    service.start()  # new index versions and recorded calls reach find_tools without a restart
    try:
        async with gateway.downstreams.running():
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.to_thread.run_sync, _warm, gateway.engine)  # not before initialize
                group.start_soon(gateway.start)
                await serve_forever()
                group.cancel_scope.cancel()
    finally:
        service.stop()


def _logging() -> None:
    """The gateway's own lines at INFO on stderr; the SDK's and httpx's only from WARNING (the
    SDK repeats each tool error at INFO, httpx logs every request)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in ("mcp", "httpx", "httpx2", "sentence_transformers", "bm25s"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_stdio(gateway: Gateway) -> None:
    """Serve the gateway over stdio until the client closes stdin (logs go to stderr)."""
    _logging()
    server = create_gateway_server(gateway)
    anyio.run(_serve, gateway, server.run_stdio_async)


def run_http(gateway: Gateway, port: int, host: str | None = None) -> None:
    """Serve the gateway over streamable HTTP at http://HOST:PORT/mcp (stateful sessions, so each
    client's finds and calls pair up)."""
    import uvicorn

    _logging()
    host = host or str(gateway.engine.config["server"]["host"])
    server = create_gateway_server(gateway)
    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=True,
                                     transport_security=transport_security(host), host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False)
    log.info("matchgraph gateway on http://%s:%d/mcp", host, port)
    anyio.run(_serve, gateway, uvicorn.Server(config).serve)


def _warm(engine: Engine) -> None:
    """Load the model before the first find_tools rather than during it (in a thread, while the
    client initializes and the servers start)."""
    try:
        engine.embedder().encode_query("warm up")
    except MatchgraphError as exc:  # serve anyway: find_tools reports the problem
        log.warning("%s", exc)
