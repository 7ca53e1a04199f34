"""The MCP server's two transports: streamable HTTP at /mcp inside `matchgraph serve`
(`create_mcp_http`, mounted by api/app.py) and stdio for desktop agents (`run_stdio`,
`matchgraph mcp`)."""

import logging
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from matchgraph.core.errors import MatchgraphError
from matchgraph.engine.engine import Engine

from .guard import ClientGuard
from .mcp import create_mcp_server

log = logging.getLogger("matchgraph.mcp")

MCP_PATH = "/mcp"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class MCPHttp:
    """The streamable-HTTP endpoint of the MCP server, to add to an ASGI app at `path` (/mcp).

    `route` is a Starlette route for the app's routes; `lifespan()` runs the SDK's session manager
    and must be entered in the app's lifespan (each entry starts a fresh manager, so an app whose
    lifespan runs several times, as in tests, keeps working)."""

    def __init__(self, server: MCPServer, path: str, security: TransportSecuritySettings, host: str):
        self.server = server
        self.path = path
        self._security = security
        self._host = host
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self.manager
        if manager is None:
            body = b'{"error": "unavailable", "status": 503, "message": "the MCP endpoint is not running"}'
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await manager.handle_request(scope, receive, send)

    @property
    def route(self) -> Route:
        return Route(self.path, endpoint=self, methods=["GET", "POST", "DELETE"], include_in_schema=False)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # Stateless JSON responses: any API replica can answer any request, no sticky sessions.
        # (streamable_http_app builds the SDK's session manager; its Starlette wrapper is unused.)
        self.server.streamable_http_app(streamable_http_path=self.path, json_response=True,
                                        stateless_http=True, transport_security=self._security,
                                        host=self._host)
        manager = self.server.session_manager
        async with manager.run():
            self.manager = manager
            try:
                yield
            finally:
                self.manager = None


def create_mcp_http(engine: Engine, path: str = MCP_PATH, host: str | None = None,
                    guard: ClientGuard | None = None, observe=None) -> MCPHttp:
    """Streamable HTTP for `engine`'s MCP server. When the server listens on a loopback address
    (`host`, default config server.host), DNS-rebinding protection admits only localhost
    Host/Origin headers; a server bound to another address accepts the names it is reached by.
    `guard` (the app's) counts wrong write tokens per client, as for the HTTP API; `observe` hears
    every tool call (the app's metrics)."""
    host = host or str(engine.config.get("server", {}).get("host") or "127.0.0.1")
    return MCPHttp(create_mcp_server(engine, guard, observe), path, transport_security(host), host)


def transport_security(host: str) -> TransportSecuritySettings:
    """On a loopback address, DNS-rebinding protection admitting only localhost Host/Origin
    headers; on another address, the names it is reached by (no check)."""
    if host in LOOPBACK:
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def run_stdio(engine: Engine) -> None:
    """Serve `engine` over stdio until the client closes stdin (stdout carries only JSON-RPC;
    logs go to stderr)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:  # load the index and the model before the first call rather than during it
        engine.embedder(engine.state.index.manifest["model"]).encode_query("warm up")
    except MatchgraphError as exc:  # serve anyway: every tool call reports the problem
        log.warning("%s", exc)
    create_mcp_server(engine).run("stdio")
