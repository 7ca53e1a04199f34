"""Running the API layer from the command line: what `matchgraph serve` and `matchgraph mcp` call.

The core's CLI imports this lazily, inside those two commands, so `matchgraph` never imports
`api` at import time (api depends on matchgraph, not the reverse).
"""

from __future__ import annotations

from matchgraph.core.progress import stderr_console
from matchgraph.engine.engine import Engine


def serve(engine: Engine, host: str | None = None, port: int | None = None) -> None:
    """Serve the JSON API, the pages, /metrics and MCP over HTTP with uvicorn until stopped
    (`host`/`port` default to config server.host / server.port)."""
    import uvicorn

    from .app import create_app

    host = host or engine.config["server"]["host"]
    port = port or int(engine.config["server"]["port"])
    application = create_app(engine=engine, host=host)
    stderr_console().print(f"matchgraph serving {engine.home} on http://{host}:{port}/", highlight=False)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback peer as
    # the client's address; only server.client_ip_header is trusted (api/guard.py)
    uvicorn.run(application, host=host, port=port, log_level="info", server_header=False,
                proxy_headers=False, forwarded_allow_ips="")


def serve_mcp_stdio(engine: Engine) -> None:
    """Serve the MCP tools over stdio until the client closes stdin."""
    from .mcp_transport import run_stdio

    run_stdio(engine)
